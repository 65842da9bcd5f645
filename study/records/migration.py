"""Backward compatibility, all of it: how rows, keys and tuned configurations written by earlier
versions are read today, so the committed study and tunings stay valid without a rerun.

Why here and not in the adapter contract: these are facts about rows that were written (what
their keys hashed, which names their parameters had), not about how a model is called. An
adapter author writes none of this; a plugin that never had old rows needs nothing here.
The facts are tables keyed by model name, so a row's key can be recomputed even where its
adapter is not installed. Change an entry and the committed keys stop matching:
``tests/records/test_migration.py`` recomputes every committed key to catch that.

- ``KEY_NEUTRAL_PARAMS``: parameter values that do what the model did before the parameter
  existed; they stay out of the resume key, so finished trials remain reusable.
- ``THREADS_KEY_ENTRY``: what a model's committed rows hashed for the CPU share, whatever
  ``threads`` is set to (threads change speed, not results).
- ``RENAMED_PARAMS``: old parameter names and today's (``n_jobs`` -> ``threads``).
- ``PLAIN_KEY_PROFILE``: the profile whose keys do not name their variant.
- ``migrate_row``: a stored row in today's schema (``study.records.rows.SCHEMA_VERSION``),
  with the configuration its key implies where it was written without one (``row_config``).

Rows written before ``shared.jsonl`` (their arrays inline) read as they always did; the
committed run folders were rewritten once by ``study.records.store.compact``.

A row's ``params`` are never renamed on reading: for a version 1 row they are what its key
hashed (an XGBoost row's ``n_jobs: None`` is in its key as such).
"""
from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from study.contract.adapter import THREADS
from study.records.keys import config_key
from study.records.rows import SCHEMA_VERSION, UNVERSIONED, Field


def _frozen(table: dict[str, dict[str, Any]]) -> Mapping[str, Mapping[str, Any]]:
    """A read-only table: an entry changed at run time would silently change keys."""
    return MappingProxyType({model: MappingProxyType(dict(entry)) for model, entry in table.items()})


_NETWORK_NEUTRAL = {"ensemble": 1, "precision": "fp32", "label_scale": None}

#: model -> {parameter: the value the model's trials ran before the parameter existed}.
KEY_NEUTRAL_PARAMS = _frozen({
    "chronos": {"pooling": "mean"},
    "darts-tft": {"threshold_shift": 0.0},
    "lstm": _NETWORK_NEUTRAL,
    "transformer": _NETWORK_NEUTRAL,
    "mamba": _NETWORK_NEUTRAL,
})

#: model -> what its committed rows' keys hashed for the CPU share (their ``n_jobs`` or
#: ``threads`` parameter at the time). A model not listed hashes nothing for it.
THREADS_KEY_ENTRY = _frozen({
    "autogluon-tabular": {"threads": 1},
    "autogluon-timeseries": {"threads": 1},
    "darts-tft": {"threads": 1},
    "lstm": {"threads": None},
    "transformer": {"threads": None},
    "mamba": {"threads": None},
    "sktime-rocket": {"n_jobs": 2},
    "xgboost": {"n_jobs": 2},
})

#: model -> {old parameter name: today's}, for rows and tuned configurations recorded before.
RENAMED_PARAMS = _frozen({
    "sktime-rocket": {"n_jobs": THREADS},
    "xgboost": {"n_jobs": THREADS},
})

#: The profile whose trials keep the plain key: the study's hand-chosen settings, whose
#: committed rows were written before keys told variants apart.
PLAIN_KEY_PROFILE = "standard"


def key_params(model: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters a trial's resume key hashes: ``params`` less key-neutral values, the CPU
    share (``threads``) as the model's committed rows hashed it, whatever it is set to."""
    neutral = KEY_NEUTRAL_PARAMS.get(model, {})
    kept = {name: value for name, value in params.items() if name not in neutral or neutral[name] != value}
    if THREADS not in params:  # a row of a model that never had the parameter, or not yet
        return kept
    kept.pop(THREADS)
    return {**kept, **THREADS_KEY_ENTRY.get(model, {})}


def current_params(model: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """Parameters recorded by an earlier version (a tuning's selected configuration, an old
    row) under today's names (``n_jobs`` -> ``threads``); a value under today's name wins.
    Their key is unchanged: ``key_params`` hashes the CPU share as the old rows did."""
    renamed = RENAMED_PARAMS.get(model, {})
    out = {name: value for name, value in params.items() if name not in renamed}
    for old, new in renamed.items():
        if old in params:
            out.setdefault(new, params[old])
    return out


def schema_version(row: Mapping[str, Any]) -> int:
    """The version a row was written in (1 when it says none)."""
    return int(row.get(Field.SCHEMA_VERSION, UNVERSIONED))


def row_config(row: Mapping[str, Any]) -> str:
    """The configuration a row belongs to (its trial key without the seed): the one it carries,
    or for a row written before rows carried one, hashed from its params as its key was
    (``key_params``; the tables are by model name, so this needs no installed adapter)."""
    if row.get(Field.CONFIG):
        return row[Field.CONFIG]
    params = key_params(row[Field.MODEL], row.get(Field.PARAMS) or {})
    return config_key(row[Field.MODEL], params, row[Field.SUBSET], row.get(Field.PROTOCOL_HASH),
                      row.get(Field.DATA_FINGERPRINT))


def migrate_row(row: dict[str, Any]) -> dict[str, Any]:
    """A stored row as today's schema reads it; today's rows come back as they are (the same
    object). A version 1 row gains its configuration (``row_config``) where it has none and
    today's ``schema_version``; its params, key, results and everything else stay as written."""
    if schema_version(row) >= SCHEMA_VERSION:
        return row
    return {**row, Field.CONFIG: row_config(row), Field.SCHEMA_VERSION: SCHEMA_VERSION}


__all__ = ["KEY_NEUTRAL_PARAMS", "THREADS_KEY_ENTRY", "RENAMED_PARAMS", "PLAIN_KEY_PROFILE", "key_params",
           "current_params", "schema_version", "row_config", "migrate_row"]
