"""Published C-MAPSS results with their sources (``published_results.csv``, package data).

Shown in the report as "reported, not reproduced" rows, never mixed with the study's own.
"""
from __future__ import annotations

from importlib import resources

import pandas as pd


def published_results() -> pd.DataFrame:
    """Reported (not reproduced) results from the literature, with citations."""
    with resources.files("study.data").joinpath("published_results.csv").open() as handle:
        return pd.read_csv(handle)
