"""``python -m study.tune``: tune each (model, subset) with the same budget.

The command lives in ``study.tuning.tuner``; this module keeps ``python -m study.tune`` working.
"""
import sys

from study.tuning.tuner import build_parser, main

__all__ = ["build_parser", "main"]

if __name__ == "__main__":
    sys.exit(main())
