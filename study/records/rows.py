"""The trial row: every field it has, the one constructor, and what is derived from it.

A row is the study's unit of record: one trial (model, subset, seed) as written to
``trials.jsonl``. It stands alone: its protocol hash, data fingerprint, configuration
(parameters, profile, tuning link), package versions, machine and timings travel with it,
so a row copied out of its run folder still says what it measured and how. Rows stay plain
JSON objects (typed by ``TrialRow``); the field names live here only, as the attributes of
``Field``, and a new metric is one name in ``study.data.scoring.METRICS``.

Every producer (a trial, a failed or timed-out trial, a copy of a shared computation, an
ensemble, the tuner's fold rows) goes through ``trial_row`` or ``copied_row``, which stamp
``schema_version``. Rows without it are version 1; reading them as today's rows (old
parameter names...) is ``study.records.migration``'s job, not the readers'.
"""
from __future__ import annotations

import functools
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TypedDict

from study.core import environment
from study.data.scoring import METRICS

#: The version of the row written today. 1: rows written before rows carried a version (no
#: ``schema_version`` field); 2: every row from the one constructor, ensembles with versions
#: and machine like any trial. Raise it when a field changes meaning, and teach
#: ``study.records.migration.migrate_row`` to read the older one.
SCHEMA_VERSION = 2
#: The version of a row that carries none.
UNVERSIONED = 1


class Field:
    """The name of each row field (use these, never the string itself)."""

    SCHEMA_VERSION = "schema_version"  # SCHEMA_VERSION when written; absent: version 1
    # identity: what was run, on what
    KEY = "key"  # the resume key (study.records.store.trial_key)
    CONFIG = "config"  # the key without the seed: the trials one leaderboard line averages
    MODEL = "model"
    SUBSET = "subset"
    SEED = "seed"
    PARAMS = "params"
    PROFILE = "profile"  # the runner profile the parameters came from
    TUNING = "tuning"  # where a tuned configuration came from (study.records.tuned_configs); absent otherwise
    # the plain key of the row's computation, where its own key also names its variant
    # (study.records.store.variant_trial_key): rows of two variants with equal parameters share it
    SAME_AS = "same_as"
    COPIED_FROM = "copied_from"  # a row not run again: the key of the row whose results it copies
    COPIED_AT = "copied_at"  # when that copy was made (its results keep the source's started_at)
    PROTOCOL_HASH = "protocol_hash"
    DATA_FINGERPRINT = "data_fingerprint"
    DATA_VERIFIED = "data_verified"
    LIBRARY = "library"
    FAMILY = "family"
    FORMULATION = "formulation"
    VERSIONS = "versions"  # installed versions of the packages that can change results
    MACHINE = "machine"  # CPU model and the instruction-set flags that change numerics, OS, Python
    THREADS = "threads"  # the CPU threads the trial was given (torch results depend on it)
    STARTED_AT = "started_at"
    # outcome
    STATUS = "status"
    REASON = "reason"
    TRACEBACK = "traceback"
    # metrics read by name (all of them: ``METRIC_FIELDS``)
    RMSE = "rmse"  # the ranking metric
    MAE = "mae"
    SCORE = "score"
    # timings and costs
    FIT_SECONDS = "fit_seconds"
    PREDICT_SECONDS = "predict_seconds"
    WALL_SECONDS = "wall_seconds"
    CPU_SECONDS = "cpu_seconds"  # user + system CPU of the trial's process and its finished children
    PEAK_RSS_MB = "peak_rss_mb"
    N_PARAMETERS = "n_parameters"
    N_WARNINGS = "n_warnings"
    WARNINGS = "warnings"
    INFO = "info"  # the adapter's own summary (best epoch, chosen model...)
    RUNGS = "rungs"  # the tuner's multi-fidelity record: scores at rungs, why it stopped (study.contract.fidelity)
    # test predictions
    N_TEST_ENGINES = "n_test_engines"
    UNITS = "units"
    Y_TRUE = "y_true"
    Y_PRED = "y_pred"
    # predictions for the cut validation engines (study.data.validation)
    VALID_UNITS = "valid_units"
    VALID_CYCLES = "valid_cycles"
    VALID_Y_TRUE = "valid_y_true"
    VALID_Y_PRED = "valid_y_pred"
    VALID_RMSE = "valid_rmse"
    VALID_PREDICT_SECONDS = "valid_predict_seconds"
    VALID_IN_SAMPLE = "valid_in_sample"  # an ensemble's: its weights were fitted on these predictions
    # the refit on training + validation engines (Protocol.refit; study.execution.trial.refit)
    REFIT = "refit"  # whether the trial ran with refit on
    REFIT_PARAMS = "refit_params"  # the refit's parameters (the selected count fixed); None: cannot refit
    REFIT_REASON = "refit_reason"  # why the selection fit was scored although refit was on
    SELECTION_FIT_SECONDS = "selection_fit_seconds"
    REFIT_FIT_SECONDS = "refit_fit_seconds"
    N_REFIT_ENGINES = "n_refit_engines"
    REFIT_INFO = "refit_info"
    # derived, never stored: see ``variant``
    VARIANT = "variant"
    # stored, never read: on disk, the digest of the row's arrays that every row of its subset
    # holds alike, kept once per run folder (study.records.shared); readers get the arrays back
    SHARED = "shared"
    # stored, never read: on disk, a copy whose predictions equal those of the row it copies holds
    # that row's key here and nulls in their place (study.records.copies); readers get them back
    PREDICTIONS_OF = "predictions_of"


class TrialRow(TypedDict, total=False):
    """A row's fields and their JSON types (metrics: the names in ``study.data.scoring.METRICS``,
    floats). Only key, model, subset, seed and status are required (``study.records.store``)."""

    schema_version: int
    key: str
    config: str
    model: str
    subset: str
    seed: int
    params: dict[str, Any]
    profile: str | None
    tuning: dict[str, Any]
    same_as: str
    copied_from: str
    copied_at: str
    protocol_hash: str
    data_fingerprint: str
    data_verified: bool
    library: str | None
    family: str | None
    formulation: str | None
    versions: dict[str, str]
    machine: dict[str, Any]
    threads: int | None
    started_at: str
    status: str
    reason: str | None
    traceback: str
    fit_seconds: float
    predict_seconds: float
    wall_seconds: float
    cpu_seconds: float
    peak_rss_mb: float
    n_parameters: int | None
    n_warnings: int
    warnings: list[str]
    info: dict[str, Any]
    rungs: dict[str, Any]
    n_test_engines: int
    units: list[int]
    y_true: list[float]
    y_pred: list[float]
    valid_units: list[int]
    valid_cycles: list[int]
    valid_y_true: list[float]
    valid_y_pred: list[float]
    valid_rmse: float
    valid_predict_seconds: float
    valid_in_sample: bool
    refit: bool
    refit_params: dict[str, Any] | None
    refit_reason: str | None
    selection_fit_seconds: float
    refit_fit_seconds: float | None
    n_refit_engines: int
    refit_info: dict[str, Any]


STATUSES = ("ok", "failed", "skipped")
#: The metrics an ``ok`` row carries (``study.data.scoring.score_predictions``).
METRIC_FIELDS: tuple[str, ...] = METRICS
#: Costs a table averages over seeds next to the metrics.
COST_FIELDS = (Field.FIT_SECONDS, Field.PREDICT_SECONDS)
#: The per-engine lists an ``ok`` row must hold, equally long.
PREDICTION_FIELDS = (Field.UNITS, Field.Y_TRUE, Field.Y_PRED)

#: ``variant`` of a row by its profile: what kind of configuration it ran.
PROFILE_VARIANTS = {"default": "default", "standard": "hand-tuned"}
TUNED = "tuned"


class RowSpec(Protocol):
    """What a row is of: ``study.execution.trial.TrialSpec`` for a trial, ``RowIdentity`` for a
    row no trial ran (an ensemble). ``config``, ``profile``, ``tuning``, ``same_as`` and
    ``threads`` are read where present."""

    key: str
    model: str
    subset: str
    seed: int
    params: Any


class RowData(Protocol):
    """What a row ran on: ``study.data.protocol.PreparedSubset`` for a trial, ``DataIdentity``
    for a row made from other rows."""

    protocol_hash: str | None
    data_fingerprint: str | None
    verified: bool


@dataclass(frozen=True)
class RowIdentity:
    """The identity of a row that no ``TrialSpec`` describes (an ensemble of stored rows), so it
    is built by the same constructor as a trial's (``trial_row``)."""

    model: str
    subset: str
    seed: int
    params: dict[str, Any] = field(hash=False)
    key: str
    config: str = ""
    profile: str | None = None
    tuning: dict[str, Any] | None = field(default=None, hash=False)
    same_as: str = ""
    threads: int | None = None


@dataclass(frozen=True)
class DataIdentity:
    """The protocol and data a row made from other rows stands on (theirs)."""

    protocol_hash: str | None
    data_fingerprint: str | None
    verified: bool = True


@functools.lru_cache(maxsize=1)
def _environment() -> tuple[dict[str, str], dict[str, Any]]:
    """Package versions and machine, looked up once per process (they do not change in it)."""
    return environment.package_versions(), environment.machine()


def _check_fields(status: str, fields: Mapping[str, Any]) -> None:
    """Refuse an unknown status or a field name this module does not define (a typo would
    otherwise be written to every row and read by nobody)."""
    if status not in STATUSES:
        raise ValueError(f"unknown status {status!r}; a row's status is one of {', '.join(STATUSES)}")
    unknown = sorted(set(fields) - set(TrialRow.__annotations__) - set(METRIC_FIELDS))
    if unknown:
        raise ValueError(f"not row fields: {', '.join(unknown)} (add them to study.records.rows)")


def trial_row(spec: RowSpec, prepared: RowData, tags: Mapping[str, Any], status: str, reason: str | None = None,
              started_at: str | None = None, **outcome: Any) -> TrialRow:
    """THE constructor of a row, whatever made it (trial, failure, ensemble, tuner fold) and
    whatever its outcome; it stamps ``schema_version``, versions and machine.

    ``spec``: a ``RowSpec`` (key, config, model, subset, seed, params, profile, tuning);
    ``prepared``: the ``RowData`` it ran on (protocol hash, data fingerprint, verified);
    ``tags``: the adapter's tags (library, family, formulation); ``outcome``: the fields the
    outcome adds (metrics, timings, predictions), by their ``Field`` names.
    """
    _check_fields(status, outcome)
    versions, machine = _environment()
    row: dict[str, Any] = {Field.SCHEMA_VERSION: SCHEMA_VERSION}
    if getattr(spec, "tuning", None):
        row[Field.TUNING] = spec.tuning  # type: ignore[attr-defined]
    if getattr(spec, "same_as", ""):
        row[Field.SAME_AS] = spec.same_as  # type: ignore[attr-defined]
    row.update({
        Field.KEY: spec.key, Field.CONFIG: getattr(spec, "config", ""), Field.MODEL: spec.model,
        Field.SUBSET: spec.subset, Field.SEED: spec.seed, Field.PARAMS: spec.params,
        Field.PROFILE: getattr(spec, "profile", None),
        Field.PROTOCOL_HASH: prepared.protocol_hash, Field.DATA_FINGERPRINT: prepared.data_fingerprint,
        Field.DATA_VERIFIED: prepared.verified, Field.LIBRARY: tags.get("library"),
        Field.FAMILY: tags.get("family"), Field.FORMULATION: tags.get("formulation"),
        Field.VERSIONS: versions, Field.MACHINE: machine, Field.THREADS: getattr(spec, "threads", None),
        Field.STARTED_AT: started_at or time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        Field.STATUS: status, Field.REASON: reason,
    })
    row.update(outcome)
    return row  # type: ignore[return-value]


#: What a copy takes from the trial that asks for it, never from the row it copies.
COPY_IDENTITY = (Field.KEY, Field.CONFIG, Field.PROFILE, Field.TUNING, Field.SAME_AS, Field.COPIED_FROM,
                 Field.SCHEMA_VERSION)


def copied_row(source: Mapping[str, Any], spec: RowSpec) -> TrialRow:
    """The row of a trial whose computation ``source`` already made (equal parameters under two
    variants): the source's results under the asking trial's identity (key, configuration,
    profile, tuning link, plain key), naming the row it copies (``Field.COPIED_FROM``) and when
    it was copied (``Field.COPIED_AT``: a budget point that chose an already-scored configuration
    gets its test row then, after its tuning ended). A copy is written today, so it is today's
    version whatever the source's (a stored row, read through ``study.records.migration``, is
    already in today's terms)."""
    row: dict[str, Any] = {name: value for name, value in source.items() if name not in COPY_IDENTITY}
    tuning, same_as = getattr(spec, "tuning", None), getattr(spec, "same_as", "")
    row.update({Field.SCHEMA_VERSION: SCHEMA_VERSION, Field.KEY: spec.key, Field.CONFIG: getattr(spec, "config", ""),
                Field.PROFILE: getattr(spec, "profile", None), Field.COPIED_FROM: source[Field.KEY],
                Field.COPIED_AT: time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                **({Field.TUNING: tuning} if tuning else {}), **({Field.SAME_AS: same_as} if same_as else {})})
    return row  # type: ignore[return-value]


def variant(row: Mapping[str, Any]) -> str:
    """What kind of configuration a row ran, derived (so old rows have one too): ``tuned``
    with a tuning link, ``default`` for the out-of-the-box profile, ``hand-tuned`` for the
    study's hand-chosen ``standard`` settings, else the profile's name (``smoke``...). A row
    without a profile (made by hand or by a tool) is ``hand-tuned``, the runner's default."""
    if row.get(Field.TUNING):
        point = row[Field.TUNING].get("budget_point_s")
        return budget_variant(point) if point else TUNED
    profile = row.get(Field.PROFILE) or "standard"
    return PROFILE_VARIANTS.get(profile, profile)


BUDGET_VARIANT = re.compile(r"^tuned-(\d+(?:\.\d+)?)m$")


def budget_variant(seconds: float) -> str:
    """The variant of a tuning's incumbent at a budget point: ``tuned-10m`` for 600 CPU seconds."""
    return f"{TUNED}-{float(seconds) / 60:g}m"


def budget_minutes(variant: str) -> float | None:
    """Tuning minutes of a variant: 0 for ``default`` (out of the box), N for ``tuned-Nm``
    (``budget_variant``), None for any other (hand-tuned, the 10-minute race's ``tuned``)."""
    if variant == "default":
        return 0.0
    found = BUDGET_VARIANT.match(str(variant))
    return float(found.group(1)) if found else None


def failure_summary(rows: list[Mapping[str, Any]], limit: int = 3) -> str:
    """Why rows did not succeed: each status and reason once, with the trials it ended
    (``model subset seed``), the most common first. What a user needs when nothing succeeded."""
    by_reason: dict[str, list[str]] = {}
    for row in rows:
        if row.get(Field.STATUS) != "ok":
            reason = f"{row.get(Field.STATUS)}: {row.get(Field.REASON) or 'no reason recorded'}"
            by_reason.setdefault(reason, []).append(f"{row[Field.MODEL]} {row[Field.SUBSET]} seed {row[Field.SEED]}")
    ordered = sorted(by_reason.items(), key=lambda item: -len(item[1]))
    parts = [f"{reason} ({', '.join(where[:3])}{f' and {len(where) - 3} more' if len(where) > 3 else ''})"
             for reason, where in ordered[:limit]]
    if len(ordered) > limit:
        parts.append(f"and {len(ordered) - limit} other reason(s)")
    return "; ".join(parts)


#: The variant a reader compares models at (equal effort), and the baseline's "then" variant.
HEADLINE_VARIANT = "tuned"
THEN_VARIANT = "default"


def split_label(label: str) -> tuple[str, str]:
    """``"lstm (tuned)"`` -> ``("lstm", "tuned")``; a plain model name has no variant (``""``)."""
    model, sep, rest = label.partition(" (")
    return (model, rest.rstrip(")")) if sep else (label, "")


def resolve_label(spec: str, labels: set[str]) -> str:
    """The label a user's model name means among ``labels``: ``lstm@default`` is
    ``lstm (default)``; a bare ``lstm`` is itself, else its headline variant, else its
    out-of-the-box one (unknown names come back as given, for the caller to refuse)."""
    model, _, kind = spec.partition("@")
    if kind:
        return f"{model} ({kind})"
    for label in (model, f"{model} ({HEADLINE_VARIANT})", f"{model} ({THEN_VARIANT})"):
        if label in labels:
            return label
    return spec


def distinct_models(rows: list[dict[str, Any]], also: set[str] | frozenset[str] = frozenset()) -> list[dict[str, Any]]:
    """The rows with model names that tell variants apart ("lstm (tuned)") where a model has
    rows of several variants (or is named in ``also``: to match another run's labels); the
    rows themselves when none has. For views that key on the model alone (figures,
    engine-by-engine comparisons, ranks); the tables show ``variant``."""
    labelled = set(also) | {model for model, found in _variants(rows).items() if len(found) > 1}
    if not labelled & {row[Field.MODEL] for row in rows}:
        return rows
    return [{**row, Field.MODEL: f"{row[Field.MODEL]} ({variant(row)})"} if row[Field.MODEL] in labelled
            else row for row in rows]


def _variants(rows: list[dict[str, Any]]) -> dict[str, set[str]]:
    kinds: dict[str, set[str]] = {}
    for row in rows:
        kinds.setdefault(row[Field.MODEL], set()).add(variant(row))
    return kinds


def comparable_labels(first: list[dict[str, Any]],
                      second: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Two runs' rows labelled alike: a model with several variants in either run is named
    with its variant in both (so "lstm (tuned)" meets "lstm (tuned)"), any other by its name."""
    several = {m for rows in (first, second) for m, found in _variants(rows).items() if len(found) > 1}
    return distinct_models(first, several), distinct_models(second, several)


__all__ = ["Field", "TrialRow", "trial_row", "copied_row", "RowIdentity", "DataIdentity", "SCHEMA_VERSION",
           "UNVERSIONED", "variant", "budget_variant", "budget_minutes", "failure_summary", "distinct_models",
           "comparable_labels", "STATUSES", "METRIC_FIELDS", "COST_FIELDS",
           "PREDICTION_FIELDS"]
