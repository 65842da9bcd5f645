"""The equal-budget tuner: ``python -m study.tune`` searches each (model, subset) on
engine-disjoint folds of the training engines, every pair with the same budget.

Protocol (stated here once, recorded in every output):

- **Objective**: mean RMSE (capped truth) over ``folds`` engine-disjoint folds of the
  training file (``study.tuning_data``), each scored on its validation engines cut as test
  engines are (``study.validation``). Default 3 folds, 60% of the training engines scored
  per evaluation: one 20-engine split misled this project's own sweeps, and every fold is a
  fit (an FD001 LSTM fit took 110 s on one thread of the shared 2-core machine, so even 3
  folds leave it about two evaluations in 10 minutes; 5 would leave one). The tuner reads
  ``train_FD00x.txt`` only.
- **Budget**: ``budget_s`` wall-clock seconds per (model, subset) (default ``BUDGET_S``),
  with the same thread share for every evaluation (cores / workers, as the runner gives a
  trial; one thread per task on Ray), and optionally at most ``max_evaluations``. Each
  evaluation is charged the wall time of its batch (submission to last fold row) divided
  by the batch's evaluations; driver overhead between batches is not charged. A new batch
  starts only while the charged total is below the budget; each fold is given the
  remaining budget as its time limit (killed past it with the local and Ray executors), and
  an evaluation that ends after the budget ran out is a failed evaluation whose result is
  not used. Until one evaluation has succeeded, the first of a batch (the defaults, at the
  start) is exempt and runs to completion, so every pair has a result even when one
  evaluation costs more than the budget (it is charged; nothing else starts after it). An evaluation in flight when the tuner is killed is not charged: it is marked
  failed (``interrupted``) on restart and rerun with the same parameters, and charged then.
- **Search**: Optuna's TPE sampler (independent, constant liar for parallel batches); the
  first evaluation is the adapter's defaults (the profile's parameters for the subset), so
  the tuned configuration is never worse on the folds than the default one. A space of
  categorical choices only (the AutoML systems, Chronos) is searched as a grid, in a fixed
  order. An adapter with an empty space is evaluated once, at its defaults.
- **No pruner yet**: a median pruner between folds would act only after five completed
  evaluations, which the slow models do not reach in 10 minutes, and would judge on one
  20-engine fold, the noise this objective avoids; an epoch-level pruner needs a per-epoch
  callback from the shared trainer and the libraries (left for later).
- **Determinism and resume**: the sampler of the ``n``-th evaluation is seeded from
  (``seed``, ``n``) and conditions on the journal's finished evaluations, and evaluations run
  in batches of ``workers``, told in order; so, for an evaluation-count limit, a resumed
  tuning asks, evaluates and selects exactly what an uninterrupted one would. The journal
  (Optuna ``JournalStorage``, one file per pair in the tuning folder) is the only state.
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console

from study import environment
from study.cli import main_guarded
from study.cmapss import SUBSETS
from study.errors import StudyError
from study.executors import make_executor
from study.profiles import get_profile
from study.protocol import Protocol
from study.registry import all_adapters, get_adapter
from study.results import _digest
from study.search_space import Categorical, SearchSpace, check_space, decode, describe, suggest
from study.trial import TrialSpec
from study.tuning_data import load_training, locate_training, make_folds
from study.validation import cut_engines

BUDGET_S = 600.0  #: the committed tuning's budget per (model, subset): 10 minutes of wall clock
FOLDS = 3
AUTOML_TIME_SHARE = 0.8  #: of a fit's budget share given to an AutoML system's own time limit
INTERRUPTED = "interrupted"
SKIPPED = "skipped"
ASKED = "asked"
#: a pair stops after this many failed evaluations in a row (a broken adapter, missing
#: weights): the rest of its budget would only fill the journal with failures
MAX_FAILURES_IN_A_ROW = 5


@dataclass
class TuneConfig:
    """Everything the command line can set (and ``space_overrides``: a space to search instead of a
    model's own, for tests and experiments)."""

    out: Path
    models: Sequence[str] | None = None
    subsets: Sequence[str] | None = None
    profile: str = "default"
    budget_s: float = BUDGET_S
    max_evaluations: int | None = None
    folds: int = FOLDS
    seed: int = 0
    executor: str = "local"
    workers: int = 1
    threads: int | None = None  # per fit; None: the cores / workers share the runner gives a trial
    ray_address: str | None = None
    data_dir: Path | None = None
    offline: bool = False
    allow_unverified_data: bool = False
    protocol: Protocol = field(default_factory=Protocol)
    space_overrides: dict[str, SearchSpace] = field(default_factory=dict)

    def check(self) -> None:
        bad = [s for s in self.subsets or () if s not in SUBSETS]
        if bad:
            raise StudyError(f"Unknown subset(s) {', '.join(bad)}; valid subsets: {', '.join(SUBSETS)}.")
        for name in self.models or ():
            get_adapter(name)
        get_profile(self.profile)
        if not self.budget_s > 0:
            raise StudyError(f"--budget must be a positive number of seconds (got {self.budget_s:g}).")
        if self.max_evaluations is not None and self.max_evaluations < 1:
            raise StudyError(f"--max-evaluations must be at least 1 (got {self.max_evaluations}).")
        if self.workers < 1:
            raise StudyError(f"--workers must be at least 1 (got {self.workers}).")
        if self.threads is not None and self.threads < 1:
            raise StudyError(f"--threads must be at least 1 (got {self.threads}).")


# ----- the journal ------------------------------------------------------------------------
def journal_path(out: Path, model: str, subset: str) -> Path:
    return Path(out) / "journals" / f"{model}-{subset}.log"


def open_study(out: Path, model: str, subset: str, settings: dict[str, Any]):
    """The pair's Optuna study in its journal file, created or resumed; refuses to resume a
    journal made with other settings (a different budget would not be an equal budget)."""
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    path = journal_path(out, model, subset)
    path.parent.mkdir(parents=True, exist_ok=True)
    storage = JournalStorage(JournalFileBackend(str(path)))
    study = optuna.create_study(study_name=f"{model}/{subset}", storage=storage, direction="minimize",
                                load_if_exists=True)
    stored = study.user_attrs.get("settings")
    if stored is None:
        study.set_user_attr("settings", settings)
    elif stored != json.loads(json.dumps(settings)):
        changed = sorted(k for k in set(stored) | set(settings) if stored.get(k) != json.loads(json.dumps(settings)).get(k))
        raise StudyError(f"{path} was tuned with other settings ({', '.join(changed)} differ). Rerun with the "
                         "same options to resume it, or choose another --out to tune from scratch.")
    return study


def _is_interrupted(trial) -> bool:
    return trial.user_attrs.get(INTERRUPTED, False)


def _uncounted(trial) -> bool:
    """An evaluation that never produced a result: killed in flight, or its model could not
    run here. It is not charged, not counted, and rerun with its parameters next time."""
    return _is_interrupted(trial) or trial.user_attrs.get(SKIPPED, False)


def recover_interrupted(study) -> int:
    """Evaluations left running by a killed tuner: marked failed (``interrupted``); they and
    skipped ones are enqueued again with their parameters, once each. Returns how many."""
    import optuna
    from optuna.trial import TrialState

    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        optuna.trial.Trial(study, trial._trial_id).set_user_attr(INTERRUPTED, True)
        study.tell(trial.number, state=TrialState.FAIL)
    trials = study.get_trials(deepcopy=False)
    rerun = {t.user_attrs.get("rerun_of") for t in trials}
    pending = [t for t in trials if _uncounted(t) and t.user_attrs.get(ASKED) and t.number not in rerun]
    for trial in pending:
        study.enqueue_trial(trial.params, user_attrs={"rerun_of": trial.number})
    return len(pending)


def finished_trials(study) -> list:
    """The evaluations that count against the budget: completed or failed, not the uncounted."""
    from optuna.trial import TrialState

    return [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.FAIL))
            if not _uncounted(t)]


def _grid(space: SearchSpace) -> list[dict[str, Any]] | None:
    """All points of an all-categorical space, in a fixed order (None otherwise)."""
    if not space or not all(isinstance(d, Categorical) for d in space.values()):
        return None
    names = sorted(space)
    return [dict(zip(names, values)) for values in itertools.product(*(space[n].choices for n in names))]


def _key(params: dict[str, Any]) -> str:
    return json.dumps(params, sort_keys=True, default=str)


def _optuna_values(space: SearchSpace, params: dict[str, Any]) -> dict[str, Any]:
    """Adapter values -> the values Optuna stores (categorical labels), for enqueuing."""
    from study.search_space import _choice_label

    return {name: _choice_label(value) if isinstance(space[name], Categorical) else value
            for name, value in params.items()}


def ask(study, space: SearchSpace, defaults: dict[str, Any], seed: int):
    """The next evaluation: an enqueued rerun first, then the defaults (first evaluation),
    the next grid point, or TPE's suggestion seeded by (seed, evaluations so far)."""
    import optuna
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    slot = sum(1 for t in trials if not _uncounted(t) and t.state != TrialState.WAITING)
    waiting = any(t.state == TrialState.WAITING for t in trials)
    study.sampler = optuna.samplers.TPESampler(seed=int(np.random.SeedSequence([seed, slot]).generate_state(1)[0]))
    if not waiting:
        start = {k: v for k, v in defaults.items() if k in space and space[k].contains(v)}
        grid = _grid(space)
        if slot == 0 and start:
            study.enqueue_trial(_optuna_values(space, start))
        elif grid is not None:
            covered = {_key(decode(space, t.params)) for t in trials if not _uncounted(t)}
            point = next((p for p in grid if _key(p) not in covered), None)
            if point is not None:
                study.enqueue_trial(_optuna_values(space, point))
    trial = study.ask()
    params = suggest(trial, space)
    # Optuna stores each suggestion as it is made: only a trial marked here holds all of its
    # parameters, and only such a trial is rerun with them after a kill (one killed while
    # being asked is asked afresh, from the same seed and history)
    trial.set_user_attr(ASKED, True)
    return trial, params


# ----- one (model, subset) ----------------------------------------------------------------
def evaluation_limit(space: SearchSpace, max_evaluations: int | None) -> int | None:
    """At most the grid's size for an all-categorical space; one evaluation for no space."""
    if not space:
        return 1
    grid = _grid(space)
    limits = [n for n in (max_evaluations, len(grid) if grid is not None else None) if n is not None]
    return min(limits) if limits else None


def tune_pair(config: TuneConfig, model: str, subset: str, folds: list, console: Console,
              executor, threads: int) -> dict[str, Any]:
    """Tune one (model, subset) to its budget; returns (and writes) its summary."""
    cls = get_adapter(model)
    space: SearchSpace = config.space_overrides.get(model, cls.search_space)
    check_space(space, cls.default_params, model)
    base = cls.params_for(config.profile, subset)
    limit = evaluation_limit(space, config.max_evaluations)
    if cls.budget_param:
        # an AutoML system searches inside each fit: each fit's time limit is its share of
        # the budget (evaluations x folds fits, `workers` at a time)
        fits = (limit or 1) * config.folds
        base[cls.budget_param] = int(AUTOML_TIME_SHARE * config.budget_s * min(config.workers, fits) / fits)
    data = folds[0][0]
    settings = {
        "model": model, "subset": subset, "budget_s": config.budget_s, "max_evaluations": config.max_evaluations,
        "evaluation_limit": limit, "folds": config.folds, "seed": config.seed, "profile": config.profile,
        "base_params": base, "search_space": describe(space), "protocol_hash": data.protocol_hash,
        "data_fingerprint": data.data_fingerprint, "workers": config.workers, "threads": threads,
    }
    study_id = _digest([settings])
    study = open_study(config.out, model, subset, {**settings, "study_id": study_id})
    reruns = recover_interrupted(study)
    if not space:
        console.print(f"[yellow]{model} has no search space: tuned over nothing, its defaults evaluated once.[/]")
    if reruns:
        console.print(f"{model} {subset}: {reruns} evaluation(s) interrupted earlier, rerun with the same parameters.")
    stopped = None
    while True:
        finished = finished_trials(study)
        spent = sum(t.user_attrs.get("charged_seconds", 0.0) for t in finished)
        if (limit is not None and len(finished) >= limit) or spent >= config.budget_s:
            break
        recent = finished[-MAX_FAILURES_IN_A_ROW:]
        if len(recent) == MAX_FAILURES_IN_A_ROW and all(t.state.name == "FAIL" for t in recent):
            stopped = f"stopped after {MAX_FAILURES_IN_A_ROW} failed evaluations in a row: {recent[-1].user_attrs.get('reason')}"
            console.print(f"[yellow]{model} {subset}: {stopped}[/]")
            break
        size = config.workers if limit is None else min(config.workers, limit - len(finished))
        batch = [ask(study, space, base, config.seed) for _ in range(size)]
        remaining = config.budget_s - spent
        # the first evaluation (the defaults) runs to completion whatever the budget, so every
        # pair has a result; it is charged like any other
        exempt = batch[0][0].number if not any(t.state.name == "COMPLETE" for t in finished) else None
        specs, prepared = [], {}
        for trial, suggested in batch:
            params = {**base, **suggested}
            limit_s = None if trial.number == exempt else remaining
            for k in range(config.folds):
                # one executor "subset" per (evaluation, fold): its data, its artefacts folder
                where = f"{subset}-e{trial.number}-f{k}"
                prepared[where] = folds[k]
                specs.append(TrialSpec(model, where, config.seed, params, key=f"{study_id}/{trial.number}/{k}",
                                       time_limit_s=limit_s, threads=threads, predict_valid=False))
        rows: dict[str, dict[str, Any]] = {}
        ends: dict[int, float] = {}
        started = time.monotonic()

        def on_row(spec: TrialSpec, row: dict[str, Any]) -> None:
            rows[spec.key] = row
            number = int(spec.key.split("/")[1])
            ends[number] = time.monotonic()

        with tempfile.TemporaryDirectory(prefix="tune-") as scratch:
            executor.run(specs, prepared, config.protocol.max_rul, Path(scratch), on_row, lambda spec, message: None)
        charged = (time.monotonic() - started) / len(batch)
        for trial, _ in batch:  # told in order, so a resumed batch sees the same history
            fold_rows = [rows.get(f"{study_id}/{trial.number}/{k}", {}) for k in range(config.folds)]
            late = trial.number != exempt and ends.get(trial.number, started) - started > remaining
            trial.set_user_attr("charged_seconds", charged)
            # the machine's 1-minute load when the evaluation was told: a wall-clock budget is
            # only equal if nothing else competed for the cores, and this shows whether it did
            trial.set_user_attr("load_1min", round(os.getloadavg()[0], 2))
            trial.set_user_attr("fold_rmse", [r.get("rmse") for r in fold_rows])
            trial.set_user_attr("fold_seconds", [r.get("wall_seconds") for r in fold_rows])
            bad = [r for r in fold_rows if r.get("status") != "ok"]
            skipped = [r for r in bad if r.get("status") == "skipped"]
            if skipped:  # cannot run here (weights, GPU): nothing to tune, nothing charged
                stopped = f"skipped: {skipped[0].get('reason')}"
                trial.set_user_attr("reason", stopped[:300])
                trial.set_user_attr(SKIPPED, True)
                study.tell(trial, state=_fail_state())
                console.print(f"[yellow]{model} {subset}: {stopped}[/]")
            elif late or bad:
                reason = "finished after the budget ran out" if late else bad[0].get("reason", "no row")
                trial.set_user_attr("reason", str(reason)[:300])
                study.tell(trial, state=_fail_state())
                _print_evaluation(console, model, subset, trial.number, None, str(reason)[:120])
            else:
                value = float(np.mean([r["rmse"] for r in fold_rows]))
                if _improves(study, value):  # written before tell: a kill in between reruns it
                    write_fold_predictions(config.out, model, subset, trial.number, folds, fold_rows,
                                           config.protocol.max_rul)
                study.tell(trial, value)
                _print_evaluation(console, model, subset, trial.number, value, None)
        _print_progress(console, model, subset, study, limit, config.budget_s)
        if stopped:
            break
    summary = {**summarise(study, config, model, subset, space, base, settings, study_id), "stopped": stopped}
    out = Path(config.out) / f"{model}-{subset}.json"
    out.write_text(json.dumps(summary, indent=2, default=str))
    return summary


def oof_path(out: Path, model: str, subset: str) -> Path:
    return Path(out) / "oof" / f"{model}-{subset}.json"


def _improves(study, value: float) -> bool:
    from optuna.trial import TrialState

    values = [t.value for t in finished_trials(study) if t.state == TrialState.COMPLETE]
    return not values or value < min(values)


def write_fold_predictions(out: Path, model: str, subset: str, number: int, folds: list,
                           fold_rows: list[dict[str, Any]], max_rul: float) -> None:
    """The best evaluation's out-of-fold predictions (each fold's cut validation engines,
    predicted by a model that never trained on them): what an ensemble can be chosen on
    when the final models are refit. Rewritten whenever an evaluation beats the best."""
    entries = []
    for k, ((prepared, truth), row) in enumerate(zip(folds, fold_rows)):
        cut = cut_engines(prepared.valid)
        entries.append({"fold": k, "units": cut.units.tolist(), "cycles": cut.cycles.tolist(),
                        "y_true": np.minimum(truth, max_rul).tolist(), "y_pred": row["y_pred"]})
    path = oof_path(out, model, subset)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"model": model, "subset": subset, "evaluation": number, "folds": entries}))
    os.replace(tmp, path)


def _fail_state():
    from optuna.trial import TrialState

    return TrialState.FAIL


def summarise(study, config: TuneConfig, model: str, subset: str, space: SearchSpace, base: dict[str, Any],
              settings: dict[str, Any], study_id: str) -> dict[str, Any]:
    """The pair's result: best configuration and what it cost."""
    from optuna.trial import TrialState

    finished = finished_trials(study)
    complete = [t for t in finished if t.state == TrialState.COMPLETE]
    best = min(complete, key=lambda t: (t.value, t.number)) if complete else None
    return {
        "model": model, "subset": subset, "study_id": study_id, "study_name": study.study_name,
        "journal": str(journal_path(Path("."), model, subset)),
        "budget_s": config.budget_s, "max_evaluations": config.max_evaluations,
        "spent_seconds": sum(t.user_attrs.get("charged_seconds", 0.0) for t in finished),
        "n_evaluations": len(finished), "n_complete": len(complete),
        "n_failed": len(finished) - len(complete),
        "n_interrupted": sum(1 for t in study.get_trials(deepcopy=False) if _is_interrupted(t)),
        "tuned_over_nothing": not space,
        "best_valid_rmse": best.value if best else None,
        "best_fold_rmse": best.user_attrs.get("fold_rmse") if best else None,
        "best_evaluation": best.number if best else None,
        "best_params": {**base, **decode(space, best.params)} if best else None,
        "best_search_params": decode(space, best.params) if best else None,
        "oof_predictions": str(oof_path(Path("."), model, subset)) if best else None,
        "settings": settings,
    }


def _print_evaluation(console: Console, model: str, subset: str, number: int, value: float | None,
                      reason: str | None) -> None:
    if value is not None:
        console.print(f"  {model} {subset} evaluation {number}: validation RMSE {value:.3f}")
    else:
        console.print(f"  {model} {subset} evaluation {number}: [yellow]failed[/] - {reason}")


def _print_progress(console: Console, model: str, subset: str, study, limit: int | None, budget: float) -> None:
    from optuna.trial import TrialState

    finished = finished_trials(study)
    spent = sum(t.user_attrs.get("charged_seconds", 0.0) for t in finished)
    values = [t.value for t in finished if t.state == TrialState.COMPLETE]
    best = f"{min(values):.3f}" if values else "-"
    console.print(f"[bold]{model} {subset}[/]: {len(finished)}{'/' + str(limit) if limit else ''} evaluations, "
                  f"best validation RMSE {best}, budget left {max(0.0, budget - spent):.0f} s of {budget:.0f} s")


# ----- the whole tuning -------------------------------------------------------------------
def tune(config: TuneConfig, console: Console | None = None) -> list[dict[str, Any]]:
    """Tune every requested (model, subset) pair; returns their summaries."""
    console = console or Console()
    config.check()
    try:
        import optuna  # noqa: F401
    except ImportError as exc:
        raise StudyError("python -m study.tune needs Optuna: pip install -e '.[tune]'.") from exc
    models = list(config.models or all_adapters())
    subsets = list(config.subsets or get_profile(config.profile).subsets)
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    folder = locate_training(config.data_dir, subsets, config.offline, log=console.print)
    parallel = config.workers if config.executor == "local" else 1
    threads = config.threads or (1 if config.executor == "ray" else max(1, environment.available_cores() // parallel))
    try:  # a tuning folder may be filled by several commands: keep what the earlier ones said
        earlier = json.loads((out / "tune.json").read_text())
    except (OSError, json.JSONDecodeError):
        earlier = {}
    previous = earlier.pop("previous_commands", []) + ([earlier] if earlier else [])
    (out / "tune.json").write_text(json.dumps({
        "previous_commands": previous, "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "budget_s": config.budget_s, "max_evaluations": config.max_evaluations, "folds": config.folds,
        "seed": config.seed, "profile": config.profile, "executor": config.executor, "workers": config.workers,
        "threads_per_fit": threads, "models": models, "subsets": subsets, "protocol": config.protocol.as_dict(),
        "protocol_hash": config.protocol.hash(), "machine": environment.machine(),
        "versions": environment.package_versions(),
    }, indent=2, default=str))
    executor = make_executor(config.executor, config.workers, config.ray_address)
    summaries = []
    try:
        for subset in subsets:
            training = load_training(folder, subset, config.allow_unverified_data)
            folds = make_folds(training, config.protocol, config.folds)
            for model in models:
                reason = get_adapter(model).unavailable_reason()
                if reason:
                    console.print(f"[yellow]{model} {subset}: skipped - {reason}[/]")
                    continue
                summaries.append(tune_pair(config, model, subset, folds, console, executor, threads))
    finally:
        executor.close()
    return summaries


def journal_summary(out: Path, model: str, subset: str) -> list[dict[str, Any]]:
    """What a tuning decided, without its clock: per evaluation its number, state,
    parameters, value and fold RMSEs (two tunings that decided alike compare equal)."""
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    storage = JournalStorage(JournalFileBackend(str(journal_path(out, model, subset))))
    study = optuna.load_study(study_name=f"{model}/{subset}", storage=storage)
    return [{"number": t.number, "state": t.state.name, "params": t.params, "value": t.value,
             "fold_rmse": t.user_attrs.get("fold_rmse"), "interrupted": _is_interrupted(t)}
            for t in study.get_trials(deepcopy=False)]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m study.tune",
        description="Tune each (model, subset) with the same budget on folds of the training engines "
                    "(never the test files); rerun the same command to resume a killed tuning.")
    parser.add_argument("--models", type=_csv, help="comma-separated adapter names (default: all)")
    parser.add_argument("--subsets", type=_csv, help="comma-separated, e.g. FD001 (default: the profile's)")
    parser.add_argument("--budget", type=float, default=BUDGET_S, metavar="SECONDS",
                        help=f"wall-clock seconds per (model, subset) (default {BUDGET_S:g})")
    parser.add_argument("--max-evaluations", type=int, help="also stop a pair after this many evaluations")
    parser.add_argument("--folds", type=int, default=FOLDS, help=f"engine-disjoint folds per evaluation (default {FOLDS})")
    parser.add_argument("--seed", type=int, default=0, help="seeds the sampler and every fit (default 0)")
    parser.add_argument("--profile", default="default",
                        help="the parameters the search starts from (default: default, the out-of-the-box ones)")
    parser.add_argument("--out", type=Path, default=Path("runs/tuning"), help="tuning folder (default runs/tuning)")
    parser.add_argument("--executor", default="local", choices=["local", "inline", "ray"])
    parser.add_argument("--workers", type=int, default=1, help="fits at once (local) and evaluations per batch")
    parser.add_argument("--threads", type=int, help="CPU threads per fit (default: cores / workers; 1 on Ray)")
    parser.add_argument("--ray-address", help="an existing Ray cluster (default: a local Ray instance)")
    parser.add_argument("--data-dir", type=Path, help="folder with the C-MAPSS training files")
    parser.add_argument("--offline", action="store_true", help="never download")
    parser.add_argument("--allow-unverified-data", action="store_true", help="accept training files that differ from NASA's")
    parser.add_argument("--debug", action="store_true", help="on an error, also print the Python traceback")
    return parser


def _csv(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    console = Console() if Console().is_terminal else Console(width=200)
    config = TuneConfig(out=args.out, models=args.models, subsets=args.subsets, profile=args.profile,
                        budget_s=args.budget, max_evaluations=args.max_evaluations, folds=args.folds,
                        seed=args.seed, executor=args.executor, workers=args.workers, threads=args.threads,
                        ray_address=args.ray_address, data_dir=args.data_dir, offline=args.offline,
                        allow_unverified_data=args.allow_unverified_data)

    def body() -> int:
        from study.lock import run_folder_lock

        config.check()
        Path(config.out).mkdir(parents=True, exist_ok=True)
        with run_folder_lock(config.out):  # one tuner per folder: two would evaluate every pair twice
            for summary in tune(config, console):
                best = summary["best_valid_rmse"]
                console.print(f"{summary['model']} {summary['subset']}: best validation RMSE "
                              f"{'-' if best is None else f'{best:.3f}'} after {summary['n_evaluations']} "
                              f"evaluations ({summary['spent_seconds']:.0f} of {summary['budget_s']:.0f} s); "
                              f"{Path(config.out) / (summary['model'] + '-' + summary['subset'] + '.json')}")
        return 0

    return main_guarded(body, args.debug, console)

if __name__ == "__main__":
    sys.exit(main())
