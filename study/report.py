"""``python -m study.report``: write a run's report and figures.

The command lives in ``study.publishing.report``; this module keeps ``python -m study.report`` working.
"""
import sys

from study.publishing.report import build_parser, main

__all__ = ["build_parser", "main"]

if __name__ == "__main__":
    sys.exit(main())
