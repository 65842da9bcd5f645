"""``python -m study.rank``: place a new run into a committed study's leaderboard.

The command lives in ``study.analysis.rank``; this module keeps ``python -m study.rank`` working.
"""
import sys

from study.analysis.rank import build_parser, main

__all__ = ["build_parser", "main"]

if __name__ == "__main__":
    sys.exit(main())
