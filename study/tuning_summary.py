"""``python -m study.tuning_summary``: one line per (model, subset) of a tuning folder.

The command lives in ``study.tuning.summary``; this module keeps ``python -m study.tuning_summary`` working.
"""
import sys

from study.tuning.summary import build_parser, main

__all__ = ["build_parser", "main"]

if __name__ == "__main__":
    sys.exit(main())
