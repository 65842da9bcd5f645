"""``python -m study.compare``: compare two runs engine by engine.

The command lives in ``study.analysis.compare``; this module keeps ``python -m study.compare`` working.
"""
import sys

from study.analysis.compare import build_parser, main

__all__ = ["build_parser", "main"]

if __name__ == "__main__":
    sys.exit(main())
