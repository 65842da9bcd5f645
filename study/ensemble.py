"""``python -m study.ensemble``: add validation-weighted ensembles to a run.

The command lives in ``study.analysis.ensemble``; this module keeps ``python -m study.ensemble`` working.
"""
import sys

from study.analysis.ensemble import build_parser, main

__all__ = ["build_parser", "main"]

if __name__ == "__main__":
    sys.exit(main())
