"""One trial: fit one adapter on one prepared subset with one seed, score it, make its row.

Everything an executor needs is here, so a trial runs the same in-process, in a worker
process or on a Ray worker.
"""
from __future__ import annotations

import resource
import time
import traceback
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np

from study.contract.adapter import AdapterUnavailable, TrialContext
from study.contract.fidelity import RungMonitor, process_cpu_seconds
from study.contract.registry import get_adapter
from study.data.protocol import PreparedSubset, join_engines
from study.data.scoring import rmse, score_predictions
from study.data.validation import cut_engines
from study.records.rows import Field, TrialRow, trial_row


@dataclass(frozen=True)
class TrialSpec:
    """What identifies and configures a trial (hashable into ``key``)."""

    model: str
    subset: str
    seed: int
    params: dict[str, Any] = field(hash=False)
    key: str = ""
    config: str = ""  # the key without the seed: the trials one leaderboard line averages
    time_limit_s: float | None = None
    threads: int | None = None  # not part of the key: it changes speed, not results
    # predict the cut validation engines too (study.data.validation); the tuner turns it off, as
    # its test engines are those cut validation engines already
    predict_valid: bool = True
    # where a tuned configuration came from (study.records.tuned_configs): copied into the row. ``same_as``: the
    # plain key of the computation where ``key`` also names the variant (variant_trial_key)
    tuning: dict[str, Any] | None = field(default=None, hash=False)
    same_as: str = ""
    profile: str | None = None  # the runner profile the parameters came from (into the row)
    # refit on training + validation engines after selection (Protocol.refit, which is in the
    # protocol hash and so in ``key`` when on); the tuner never refits
    refit: bool = False
    # the tuner's multi-fidelity plan (study.contract.fidelity.RungPlan): rungs to report at, thresholds
    # to beat, the CPU seconds the fit may use; None outside the tuner
    rung_plan: Any = field(default=None, hash=False)


def seed_everything(seed: int) -> None:
    """Seed the global RNGs libraries fall back on (numpy, random, torch if loaded)."""
    import random
    import sys

    random.seed(seed)
    np.random.seed(seed % 2**32)
    if "torch" in sys.modules:
        sys.modules["torch"].manual_seed(seed)


def run_trial(spec: TrialSpec, prepared: PreparedSubset, truth: np.ndarray, max_rul: float,
              artifacts_dir: Path | None = None,
              progress: Callable[[str], None] = lambda message: None) -> TrialRow:
    """Run one trial and return its self-describing row; never raises for adapter errors."""
    started_at = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    cls = get_adapter(spec.model)

    def row(status: str, reason: str | None = None, **outcome: Any) -> TrialRow:
        return trial_row(spec, prepared, cls.tags, status, reason, started_at, **outcome)

    reason = cls.unavailable_reason()
    if reason:
        return row("skipped", reason)
    start, cpu_start = time.perf_counter(), process_cpu_seconds()
    monitor = (RungMonitor(spec.rung_plan, prepared.valid)
               if spec.rung_plan is not None and prepared.valid is not None and len(prepared.valid) else None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            seed_everything(spec.seed)
            context = TrialContext(artifacts_dir=artifacts_dir, progress=progress, time_budget_s=spec.time_limit_s,
                                   threads=spec.threads, monitor=monitor)
            adapter = cls(seed=spec.seed, context=context, **spec.params)
            adapter.fit(prepared.train, prepared.valid)
            final, refit_fields = refit(adapter, spec, prepared, start) if spec.refit else (adapter, {})
            y_pred = float32_precision(final.predict(prepared.test))
            predict_seconds = final.predict_seconds_  # before the validation predict resets it
            valid_fields = _valid_predictions(adapter, prepared, max_rul) if spec.predict_valid else {}
        except AdapterUnavailable as exc:
            return row("skipped", str(exc))
        except Exception as exc:  # an adapter's failure is a result, not a crash of the study
            return row("failed", f"{type(exc).__name__}: {exc}"[:500], traceback=traceback.format_exc()[-4000:],
                       wall_seconds=time.perf_counter() - start, cpu_seconds=process_cpu_seconds() - cpu_start,
                       **_warning_fields(caught))
    wall = time.perf_counter() - start
    status, reason = "ok", None
    if spec.time_limit_s and wall > spec.time_limit_s:
        status, reason = "failed", f"exceeded the profile's time limit ({wall:.0f} s > {spec.time_limit_s:.0f} s)"
    outcome = dict(
        **score_predictions(truth, y_pred, max_rul),
        fit_seconds=adapter.fit_seconds_, predict_seconds=predict_seconds, wall_seconds=wall,
        cpu_seconds=process_cpu_seconds() - cpu_start,
        n_test_engines=len(y_pred), n_parameters=adapter.info_.get("n_parameters"), info=adapter.info_,
        units=prepared.test.units.tolist(), y_true=np.asarray(truth).tolist(), y_pred=y_pred.tolist(),
        peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, **_warning_fields(caught),
        **valid_fields,
    )
    # with refit on, its fields (fit_seconds: both fits) replace the selection fit's
    outcome.update({Field.REFIT: spec.refit, **refit_fields})
    if monitor is not None:
        outcome[Field.RUNGS] = monitor.record()
    return row(status, reason, **outcome)


def refit(selected: Any, spec: TrialSpec, prepared: PreparedSubset,
          started: float) -> tuple[Any, dict[str, Any]]:
    """The final model of a trial with refit on: a fresh adapter (same seed) fitted on the
    training + validation engines with ``selected.refit_params()`` and no validation set,
    and the row fields saying what happened. The selection fit stays the one that predicts
    the validation engines (the refit trained on them). An adapter that cannot be refit
    (``refit_params()`` None), or a split without validation engines, keeps the selection fit."""
    params = selected.refit_params()
    fields: dict[str, Any] = {Field.REFIT_PARAMS: params, Field.REFIT_REASON: None,
                              Field.SELECTION_FIT_SECONDS: selected.fit_seconds_, Field.REFIT_FIT_SECONDS: None}
    if params is None or not len(prepared.valid):
        fields[Field.REFIT_REASON] = (f"{spec.model} cannot be refit (refit_params is None): the selection fit is scored"
                                  if params is None else "no validation engines: the selection fit is scored")
        return selected, fields
    seed_everything(spec.seed)
    remaining = spec.time_limit_s - (time.perf_counter() - started) if spec.time_limit_s else None
    final = type(selected)(seed=spec.seed, context=replace(
        selected.context, time_budget_s=remaining,
        progress=lambda message: selected.context.progress(f"refit: {message}")), **params)
    final.fit(join_engines(prepared.train, prepared.valid), None)
    fields.update({Field.REFIT_FIT_SECONDS: final.fit_seconds_,
                   Field.FIT_SECONDS: selected.fit_seconds_ + final.fit_seconds_,
                   Field.N_REFIT_ENGINES: len(prepared.train) + len(prepared.valid), Field.REFIT_INFO: final.info_})
    return final, fields


def _valid_predictions(adapter: Any, prepared: PreparedSubset, max_rul: float) -> dict[str, Any]:
    """The adapter's predictions for the cut validation engines (``study.data.validation``), with
    their capped truth from the training labels and their RMSE: results a later step (an
    ensemble, a comparison) can use without refitting. Nothing here reads test labels."""
    if prepared.valid.rul is None or not len(prepared.valid):
        return {}
    cut = cut_engines(prepared.valid)
    y_pred = float32_precision(adapter.predict(cut.engines))
    y_true = np.minimum(cut.truth, max_rul)
    return {Field.VALID_UNITS: cut.units.tolist(), Field.VALID_CYCLES: cut.cycles.tolist(),
            Field.VALID_Y_TRUE: y_true.tolist(), Field.VALID_Y_PRED: y_pred.tolist(),
            Field.VALID_RMSE: rmse(y_true, y_pred), Field.VALID_PREDICT_SECONDS: adapter.predict_seconds_}


def float32_precision(values: np.ndarray) -> np.ndarray:
    """Predictions at the precision the models compute them in (float32), as the shortest
    decimals that give back those float32 values: a row stores "12.3456", not
    "12.345600128173828", which keeps trials.jsonl about half the size. Scores are computed
    from these values, so a row's metrics and its stored predictions agree exactly."""
    return np.asarray(values, dtype=np.float32).astype(str).astype(np.float64)


def _warning_fields(caught: list[warnings.WarningMessage]) -> dict[str, Any]:
    messages = sorted({f"{w.category.__name__}: {str(w.message)[:200]}" for w in caught})
    return {Field.N_WARNINGS: len(caught), Field.WARNINGS: messages[:10]}
