"""The equal-budget tuner (``python -m study.tune``): searches each (model, subset) on
engine-disjoint folds of the training engines, every pair with the same budget of CPU seconds,
and writes the selected configuration that ``study.run --tuned`` reads. The rules (objective,
budget, search, resume) are in the README's tuning section and ``reports/tuning/README.md``.
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console

from study.contract.fidelity import MIN_RESOURCE, REDUCTION_FACTOR, RungPlan, promotion_threshold, rung_steps
from study.contract.profiles import get_profile
from study.contract.registry import all_adapters, get_adapter
from study.contract.search_space import Categorical, SearchSpace, check_space, decode, describe, suggest
from study.core import environment
from study.core.atomic import cut_torn_tail, write_text
from study.core.cli import (add_data_options, add_debug_option, add_execution_options, add_selection_options,
                            check_list, main_guarded)
from study.core.errors import StudyError, environment_fault
from study.data.cmapss import SUBSETS
from study.data.protocol import Protocol
from study.data.validation import cut_engines
from study.execution.executors import Job, cpu_share, failed_row, make_executor
from study.execution.trial import TrialSpec
from study.records.keys import digest
from study.records.rows import Field as F
from study.tuning.folds import load_training, locate_training, make_folds

BUDGET_S = 600.0  #: the default budget per (model, subset): 10 minutes of one core's CPU time
FOLDS = 3
#: What the budget counts (recorded in every journal: a journal charged another way is not resumed).
BUDGET_RULE = "cpu-seconds/v2"
#: The AutoML systems' own time limit per fit (``budget_param``) is searched, cheapest first:
#: a bigger budget buys longer fits. Independent of the budget, so a long tuning's first
#: evaluations are those a short one makes.
AUTOML_FIT_TIME_LIMITS = (60, 180, 540)
#: Optuna step of rung ``r`` of fold ``k``: ``k * FOLD_STEPS + r`` (one intermediate value per
#: fold and rung, so a rung's competitors are the same fold at the same epoch).
FOLD_STEPS = 10_000
#: Budgets (CPU seconds) at which the incumbent is recorded: the budget curves.
CURVE_BUDGETS = (600.0, 1800.0, 3600.0)
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
        """Every option, before anything is read or written (errors name the option)."""
        check_list("--subsets", self.subsets)
        check_list("--models", self.models)
        bad = [s for s in self.subsets or () if s not in SUBSETS]
        if bad:
            raise StudyError(f"Unknown subset(s) {', '.join(bad)}; valid subsets: {', '.join(SUBSETS)}.")
        for name in self.models or ():
            get_adapter(name)
        get_profile(self.profile)
        if not self.budget_s > 0:
            raise StudyError(f"--budget must be a positive number of seconds (got {self.budget_s:g}).")
        if self.folds < 1:
            raise StudyError(f"--folds must be at least 1 (got {self.folds}).")
        if self.seed < 0:  # numpy's seed sequences take none
            raise StudyError(f"--seed must be 0 or more (got {self.seed}).")
        if self.max_evaluations is not None and self.max_evaluations < 1:
            raise StudyError(f"--max-evaluations must be at least 1 (got {self.max_evaluations}).")
        if self.workers < 1:
            raise StudyError(f"--workers must be at least 1 (got {self.workers}).")
        if self.threads is not None and self.threads < 1:
            raise StudyError(f"--threads must be at least 1 (got {self.threads}).")


# ----- the journal ------------------------------------------------------------------------
def journal_path(out: Path, model: str, subset: str) -> Path:
    return Path(out) / "journals" / f"{model}-{subset}.log"


def _journal_complete_line(line: bytes) -> bool:
    try:
        return isinstance(json.loads(line.decode("utf-8")), dict)
    except ValueError:
        return False


def _journal_storage(path: Path, model: str, subset: str, writable: bool):
    """The Optuna storage of a pair's journal, by its absolute path (Optuna's lock is a
    symlink to the path as given: a relative one dangles and a stale lock then spins forever).
    Writable (the tuning folder locked): a torn last line (a tuner killed or a disk filled
    mid-append) is cut, and a journal lock left by a killed tuner is removed: with the folder
    lock held, no other process can be appending. A journal Optuna cannot read, or one holding
    another pair's study, is a ``StudyError`` naming the file."""
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend
    from optuna.storages.journal._file import LOCK_FILE_SUFFIX

    path = Path(path).absolute()
    notes = []
    if writable:
        cut = cut_torn_tail(path, _journal_complete_line)
        if cut:
            notes.append(f"{path}: removed an incomplete last line (line {cut[0]}, {cut[1]} bytes) left by a tuner "
                         "that stopped while writing it; the evaluation it was recording runs again.")
        lock = Path(str(path) + LOCK_FILE_SUFFIX)
        if lock.is_symlink() or lock.exists():
            lock.unlink()
            notes.append(f"{lock}: removed a journal lock left by a tuner that was killed while writing.")
    elif not path.is_file():
        raise StudyError(f"{path}: no such tuning journal.")
    try:
        storage = JournalStorage(JournalFileBackend(str(path)))
        names = {s.study_name for s in storage.get_all_studies()}
    except (ValueError, KeyError, TypeError, AttributeError, IndexError) as exc:
        raise StudyError(f"{path} is not a readable tuning journal ({type(exc).__name__}: {str(exc)[:200]}). "
                         "Restore it (git checkout, a backup), or move it away to tune this pair from scratch.") from exc
    if names and f"{model}/{subset}" not in names:
        raise StudyError(f"{path} holds the tuning of {', '.join(sorted(names))}, not of {model}/{subset}. "
                         "Put each journal back under its own name (MODEL-SUBSET.log), or move this one away.")
    if not writable and not names:
        raise StudyError(f"{path} holds no tuning yet (an empty journal).")
    return storage, notes


def load_pair_study(path: Path, model: str, subset: str):
    """A pair's study, read only (summaries, reports; safe while a tuner appends)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage, _ = _journal_storage(path, model, subset, writable=False)
    return optuna.load_study(study_name=f"{model}/{subset}", storage=storage)


def open_study(out: Path, model: str, subset: str, settings: dict[str, Any], log=lambda message: None):
    """The pair's Optuna study in its journal file, created or resumed (call with the tuning
    folder locked); refuses to resume a journal made with other settings (a different budget
    would not be an equal budget)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    path = journal_path(out, model, subset)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise environment_fault(exc, "create the journals folder") from exc
    check_settings(path, model, subset, settings)
    storage, notes = _journal_storage(path, model, subset, writable=True)
    for note in notes:
        log(f"[yellow]{note}[/]")
    study = optuna.create_study(study_name=f"{model}/{subset}", storage=storage, direction="minimize",
                                load_if_exists=True)
    if study.user_attrs.get("settings") is None:
        study.set_user_attr("settings", settings)
    return study


def check_settings(path: Path, model: str, subset: str, settings: dict[str, Any]) -> None:
    """Refuse (before anything is written) to resume a journal tuned with other settings."""
    if not path.is_file() or path.stat().st_size == 0:
        return
    study = load_pair_study(path, model, subset)
    stored = study.user_attrs.get("settings")
    wanted = json.loads(json.dumps(settings, default=str))
    if stored is not None and stored != wanted:
        changed = sorted(k for k in set(stored) | set(wanted) if stored.get(k) != wanted.get(k))
        raise StudyError(f"{path} was tuned with other settings ({', '.join(changed)} differ). Rerun with the "
                         "same options to resume it, or choose another --out to tune from scratch.")


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
    """The evaluations that count against the budget: completed, pruned or failed, not the uncounted."""
    from optuna.trial import TrialState

    return [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL))
            if not _uncounted(t)]


def _grid(space: SearchSpace, defaults: dict[str, Any] | None = None,
          cheapest_first: str | None = None) -> list[dict[str, Any]] | None:
    """All points of an all-categorical space (None otherwise), in a fixed order: by
    ``cheapest_first``'s value (an AutoML fit's time limit) if given, the defaults' point
    first among equals, then in product order."""
    if not space or not all(isinstance(d, Categorical) for d in space.values()):
        return None
    names = sorted(space)
    points = [dict(zip(names, values)) for values in itertools.product(*(space[n].choices for n in names))]
    defaults = defaults or {}

    def order(item: tuple[int, dict[str, Any]]) -> tuple:
        index, point = item
        is_default = all(_key({n: defaults[n]}) == _key({n: v}) for n, v in point.items()
                         if n in defaults and n != cheapest_first)
        return (point.get(cheapest_first, 0) if cheapest_first else 0, not is_default, index)

    return [point for _, point in sorted(enumerate(points), key=order)]


def _key(params: dict[str, Any]) -> str:
    return json.dumps(params, sort_keys=True, default=str)


def _optuna_values(space: SearchSpace, params: dict[str, Any]) -> dict[str, Any]:
    """Adapter values -> the values Optuna stores (categorical labels), for enqueuing."""
    from study.contract.search_space import _choice_label

    return {name: _choice_label(value) if isinstance(space[name], Categorical) else value
            for name, value in params.items()}


def ask(study, space: SearchSpace, defaults: dict[str, Any], seed: int, cheapest_first: str | None = None):
    """The next evaluation: an enqueued rerun first, then the defaults (first evaluation) or
    the next grid point, or TPE's suggestion seeded by (seed, evaluations so far)."""
    import optuna
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    slot = sum(1 for t in trials if not _uncounted(t) and t.state != TrialState.WAITING)
    waiting = any(t.state == TrialState.WAITING for t in trials)
    study.sampler = optuna.samplers.TPESampler(seed=int(np.random.SeedSequence([seed, slot]).generate_state(1)[0]))
    if not waiting:
        start = {k: v for k, v in defaults.items() if k in space and space[k].contains(v)}
        grid = _grid(space, defaults, cheapest_first)
        if grid is not None:
            covered = {_key(decode(space, t.params)) for t in trials if not _uncounted(t)}
            point = next((p for p in grid if _key(p) not in covered), None)
            if point is not None:
                study.enqueue_trial(_optuna_values(space, point))
        elif slot == 0 and start:
            study.enqueue_trial(_optuna_values(space, start))
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


def pair_space(config: TuneConfig, model: str) -> SearchSpace:
    """What the tuner searches for a model: its own space (or the override), plus an AutoML
    system's own time limit per fit (``AUTOML_FIT_TIME_LIMITS``), searched cheapest first."""
    cls = get_adapter(model)
    space: SearchSpace = dict(config.space_overrides.get(model, cls.search_space))
    check_space(space, cls.default_params, model)
    if cls.budget_param and cls.budget_param not in space:
        space[cls.budget_param] = Categorical(AUTOML_FIT_TIME_LIMITS)
    return space


def pair_settings(config: TuneConfig, model: str, subset: str, folds: list, threads: int) -> dict[str, Any]:
    """Everything that decides a pair's tuning (stored in its journal; a resume must match)."""
    cls = get_adapter(model)
    space = pair_space(config, model)
    data = folds[0][0]
    settings = {
        "model": model, "subset": subset, "budget_s": config.budget_s, "max_evaluations": config.max_evaluations,
        "evaluation_limit": evaluation_limit(space, config.max_evaluations), "folds": config.folds,
        "seed": config.seed, "profile": config.profile, "base_params": cls.params_for(config.profile, subset),
        "search_space": describe(space), "protocol_hash": data.protocol_hash,
        "data_fingerprint": data.data_fingerprint, "workers": config.workers, "threads": threads,
        "budget_rule": BUDGET_RULE,
        "pruner": ({"kind": "successive-halving", "fidelity": cls.fidelity_param, "min_resource": MIN_RESOURCE,
                    "reduction_factor": REDUCTION_FACTOR} if cls.fidelity_param else None),
    }
    return {**settings, "study_id": digest([settings])}


@dataclass
class _Evaluation:
    """One evaluation in flight: its folds' rows so far and what they cost."""

    trial: Any
    params: dict[str, Any]
    exempt: bool
    rows: list[dict[str, Any]] = field(default_factory=list)
    cpu: float = 0.0
    wall: float = 0.0
    outcome: str = "complete"  # complete | pruned | failed | skipped
    reason: str | None = None

    @property
    def alive(self) -> bool:
        return self.outcome == "complete"


def fold_charge(row: dict[str, Any], threads: int) -> float:
    """What one fold costs: its process's CPU seconds; a fold that never returned them (killed,
    crashed) is charged its wall time times its threads."""
    cpu = row.get(F.CPU_SECONDS)
    return float(cpu) if cpu is not None else float(row.get(F.WALL_SECONDS) or 0.0) * threads


def rung_thresholds(study, fold: int, rungs: tuple[int, ...]) -> tuple[float | None, ...]:
    """Per rung of ``fold``: the successive-halving threshold from every earlier evaluation's
    score at that fold and rung (completed and pruned ones alike)."""
    finished = [t for t in finished_trials(study) if t.intermediate_values]
    return tuple(promotion_threshold([t.intermediate_values[fold * FOLD_STEPS + r] for t in finished
                                      if fold * FOLD_STEPS + r in t.intermediate_values])
                 for r in rungs)


def can_start(study, remaining: float, fidelity: bool) -> tuple[bool, str | None]:
    """Whether an evaluation may start with ``remaining`` CPU seconds left: always with no
    history; otherwise only if that pays for what it needs to tell the search anything (its
    first rung with a fidelity, a whole evaluation without one; medians of this pair's)."""
    from optuna.trial import TrialState

    if remaining <= 0:
        return False, None
    finished = finished_trials(study)
    if fidelity:
        costs = [t.user_attrs["first_rung_cpu"] for t in finished if t.user_attrs.get("first_rung_cpu")]
        what = "its first rung"
    else:
        costs = [t.user_attrs["charged_seconds"] for t in finished if t.state == TrialState.COMPLETE]
        what = "an evaluation"
    if not costs:
        return True, None
    needed = float(np.median(costs))
    if needed > remaining:
        return False, f"the {remaining:.0f} CPU s left would not pay for {what} (about {needed:.0f} s)"
    return True, None


def tune_pair(config: TuneConfig, model: str, subset: str, folds: list, console: Console,
              executor, threads: int) -> dict[str, Any]:
    """Tune one (model, subset) to its budget; returns (and writes) its summary."""
    cls = get_adapter(model)
    space = pair_space(config, model)
    base = cls.params_for(config.profile, subset)
    limit = evaluation_limit(space, config.max_evaluations)
    settings = pair_settings(config, model, subset, folds, threads)
    study_id = settings["study_id"]
    study = open_study(config.out, model, subset, settings, console.print)
    reruns = recover_interrupted(study)
    if not space:
        console.print(f"[yellow]{model} has no search space: tuned over nothing, its defaults evaluated once.[/]")
    if reruns:
        console.print(f"{model} {subset}: {reruns} evaluation(s) interrupted earlier, rerun with the same parameters.")
    stopped = None
    while True:
        finished = finished_trials(study)
        spent = sum(t.user_attrs.get("charged_seconds", 0.0) for t in finished)
        if limit is not None and len(finished) >= limit:
            break
        go, why = can_start(study, config.budget_s - spent, bool(cls.fidelity_param))
        if not go:
            if why:
                console.print(f"{model} {subset}: stopped: {why}.")
            break
        recent = finished[-MAX_FAILURES_IN_A_ROW:]
        if len(recent) == MAX_FAILURES_IN_A_ROW and all(t.state.name == "FAIL" for t in recent):
            stopped = f"stopped after {MAX_FAILURES_IN_A_ROW} failed evaluations in a row: {recent[-1].user_attrs.get('reason')}"
            console.print(f"[yellow]{model} {subset}: {stopped}[/]")
            break
        size = config.workers if limit is None else min(config.workers, limit - len(finished))
        first = not any(t.state.name == "COMPLETE" for t in finished)
        batch = [_Evaluation(trial, {**base, **suggested}, exempt=first and i == 0)
                 for i, (trial, suggested) in enumerate(ask(study, space, base, config.seed, cls.budget_param)
                                                        for _ in range(size))]
        stopped = _run_batch(batch, config, model, subset, folds, executor, threads, study, study_id, spent, console)
        _print_progress(console, model, subset, study, limit, config.budget_s)
        if stopped:
            break
    summary = {**summarise(study, config, model, subset, space, base, settings, study_id), "stopped": stopped}
    write_text(Path(config.out) / f"{model}-{subset}.json", json.dumps(summary, indent=2, default=str))
    return summary


def _run_batch(batch: list[_Evaluation], config: TuneConfig, model: str, subset: str, folds: list, executor,
               threads: int, study, study_id: str, spent: float, console: Console) -> str | None:
    """Run a batch's evaluations fold by fold (the evaluations of a batch side by side), stop
    each one at its first pruned, failed or budget-stopped fold, and tell them in order.
    Returns why the pair must stop (a model that cannot run here), or None."""
    cls = get_adapter(model)
    for k in range(config.folds):
        alive = [e for e in batch if e.alive]
        if not alive:
            break
        remaining = config.budget_s - spent - sum(e.cpu for e in batch)
        # one job per evaluation at fold k: the (evaluation, fold) it is for travels in its
        # labels, the fold's data is shared by the batch
        jobs, prepared = [], {f"fold{k}": folds[k]}
        for e in alive:
            plan = None
            if cls.fidelity_param:
                rungs = rung_steps(int(e.params[cls.fidelity_param]))
                plan = RungPlan(rungs=rungs, thresholds=rung_thresholds(study, k, rungs),
                                cpu_limit_s=None if e.exempt else max(0.0, remaining / len(alive)),
                                max_rul=config.protocol.max_rul)
            spec = TrialSpec(model, subset, config.seed, e.params, key=f"{study_id}/{e.trial.number}/{k}",
                             threads=threads, predict_valid=False, rung_plan=plan)
            jobs.append(Job(id=spec.key, spec=spec, data=f"fold{k}", folder=f"{model}-{subset}-e{e.trial.number}-f{k}",
                            labels={"evaluation": e.trial.number, "fold": k}))
        rows: dict[int, dict[str, Any]] = {}
        by_evaluation = {job.labels["evaluation"]: job.spec for job in jobs}

        def on_result(job: Job, row: dict[str, Any]) -> None:
            assert job.labels["fold"] == k  # a batch runs one fold at a time
            rows[job.labels["evaluation"]] = row

        with tempfile.TemporaryDirectory(prefix="tune-") as scratch:
            executor.run(jobs, prepared, config.protocol.max_rul, Path(scratch), on_result, lambda job, message: None)
        for e in alive:
            row = rows.get(e.trial.number) or failed_row(by_evaluation[e.trial.number], folds[k][0], "no row", 0.0)
            e.rows.append(row)
            e.cpu += fold_charge(row, threads)
            e.wall += float(row.get(F.WALL_SECONDS) or 0.0)
            stop = (row.get(F.RUNGS) or {}).get("stop")
            if row.get(F.STATUS) == "skipped":
                e.outcome, e.reason = "skipped", f"skipped: {row.get(F.REASON)}"
            elif row.get(F.STATUS) != "ok":
                e.outcome, e.reason = "failed", str(row.get(F.REASON, "no row"))
            elif stop:
                e.outcome, e.reason = "pruned", f"fold {k}: {stop}"
    stopped = None
    for e in batch:  # told in order, so a resumed batch sees the same history
        stopped = _tell(study, e, config, model, subset, folds, spent, console) or stopped
        spent += e.cpu
    return stopped


def _tell(study, e: _Evaluation, config: TuneConfig, model: str, subset: str, folds: list, spent: float,
          console: Console) -> str | None:
    """Record one evaluation in the journal: its charge, its rung scores (what the search and
    later thresholds learn from), and its outcome."""
    from optuna.trial import TrialState

    trial = e.trial
    trial.set_user_attr("charged_seconds", e.cpu)
    trial.set_user_attr("wall_seconds", e.wall)
    trial.set_user_attr("spent_at_end", spent + e.cpu)
    # the machine's 1-minute load: CPU seconds are charged, so a busy machine slows a pair
    # without shortchanging it; the load shows how busy it was
    trial.set_user_attr("load_1min", round(os.getloadavg()[0], 2))
    trial.set_user_attr("fold_rmse", [r.get(F.RMSE) if r.get(F.STATUS) == "ok" and not (r.get(F.RUNGS) or {}).get("stop")
                                      else None for r in e.rows])
    trial.set_user_attr("fold_seconds", [r.get(F.WALL_SECONDS) for r in e.rows])
    trial.set_user_attr("fold_cpu_seconds", [r.get(F.CPU_SECONDS) for r in e.rows])
    for k, row in enumerate(e.rows):
        for step, value, cpu in (row.get(F.RUNGS) or {}).get("values", []):
            trial.report(value, k * FOLD_STEPS + int(step))
            if k == 0 and not trial.user_attrs.get("first_rung_cpu"):
                trial.set_user_attr("first_rung_cpu", cpu)
    if e.outcome == "skipped":  # cannot run here (weights, GPU): nothing to tune, nothing charged
        trial.set_user_attr("reason", e.reason[:300])
        trial.set_user_attr(SKIPPED, True)
        study.tell(trial, state=TrialState.FAIL)
        console.print(f"[yellow]{model} {subset}: {e.reason}[/]")
        return e.reason
    if e.outcome == "failed":
        trial.set_user_attr("reason", e.reason[:300])
        study.tell(trial, state=TrialState.FAIL)
        _print_evaluation(console, model, subset, trial.number, None, e.reason[:120])
    elif e.outcome == "pruned":
        trial.set_user_attr("reason", e.reason[:300])
        study.tell(trial, state=TrialState.PRUNED)
        console.print(f"  {model} {subset} evaluation {trial.number}: stopped early - {e.reason[:120]}")
    else:
        value = float(np.mean([r[F.RMSE] for r in e.rows]))
        within = e.exempt or spent + e.cpu <= config.budget_s
        trial.set_user_attr("within_budget", within)  # ended after the budget: kept, never the incumbent
        if within and _improves(study, value, config.budget_s):  # written before tell: a kill in between reruns it
            write_fold_predictions(config.out, model, subset, trial.number, folds, e.rows, config.protocol.max_rul)
        study.tell(trial, value)
        _print_evaluation(console, model, subset, trial.number, value, None)
    return None


def oof_path(out: Path, model: str, subset: str) -> Path:
    return Path(out) / "oof" / f"{model}-{subset}.json"


def _improves(study, value: float, budget_s: float) -> bool:
    best = incumbent_at(study, budget_s)
    return best is None or value < best.value


def incumbent_at(study, budget_s: float):
    """The configuration a tuning with ``budget_s`` CPU seconds selects: the best completed
    evaluation that ended within that budget (the first evaluation, the defaults, counts
    whatever it cost: every pair has a result). Read from a longer tuning's journal, it is
    what the shorter tuning would have chosen: evaluations are asked in the same order."""
    from optuna.trial import TrialState

    finished = finished_trials(study)
    first = min((t.number for t in finished), default=None)
    eligible = [t for t in finished if t.state == TrialState.COMPLETE
                and (t.number == first or t.user_attrs.get("spent_at_end", 0.0) <= budget_s)]
    return min(eligible, key=lambda t: (t.value, t.number)) if eligible else None


def write_fold_predictions(out: Path, model: str, subset: str, number: int, folds: list,
                           fold_rows: list[dict[str, Any]], max_rul: float) -> None:
    """The best evaluation's out-of-fold predictions (each fold's cut validation engines,
    predicted by a model that never trained on them): what an ensemble can be chosen on
    when the final models are refit. Rewritten whenever an evaluation beats the best."""
    entries = []
    for k, ((prepared, truth), row) in enumerate(zip(folds, fold_rows)):
        cut = cut_engines(prepared.valid)
        entries.append({"fold": k, "units": cut.units.tolist(), "cycles": cut.cycles.tolist(),
                        "y_true": np.minimum(truth, max_rul).tolist(), "y_pred": row[F.Y_PRED]})
    path = oof_path(out, model, subset)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text(path, json.dumps({"model": model, "subset": subset, "evaluation": number, "folds": entries}))


def summarise(study, config: TuneConfig, model: str, subset: str, space: SearchSpace, base: dict[str, Any],
              settings: dict[str, Any], study_id: str) -> dict[str, Any]:
    """The pair's result: best configuration and what it cost."""
    from optuna.trial import TrialState

    finished = finished_trials(study)
    complete = [t for t in finished if t.state == TrialState.COMPLETE]
    best = incumbent_at(study, config.budget_s)

    def described(trial) -> dict[str, Any] | None:
        if trial is None:
            return None
        return {"evaluation": trial.number, "valid_rmse": trial.value, "fold_rmse": trial.user_attrs.get("fold_rmse"),
                "spent_at_end": trial.user_attrs.get("spent_at_end"), "params": {**base, **decode(space, trial.params)},
                "search_params": decode(space, trial.params)}

    spent = sum(t.user_attrs.get("charged_seconds", 0.0) for t in finished)
    return {
        "model": model, "subset": subset, "study_id": study_id, "study_name": study.study_name,
        "journal": str(journal_path(Path("."), model, subset)),
        "budget_s": config.budget_s, "budget_rule": BUDGET_RULE, "max_evaluations": config.max_evaluations,
        "spent_seconds": spent, "wall_seconds": sum(t.user_attrs.get("wall_seconds", 0.0) for t in finished),
        "n_evaluations": len(finished), "n_complete": len(complete),
        "n_pruned": sum(1 for t in finished if t.state == TrialState.PRUNED),
        "n_failed": sum(1 for t in finished if t.state == TrialState.FAIL),
        "n_interrupted": sum(1 for t in study.get_trials(deepcopy=False) if _is_interrupted(t)),
        "tuned_over_nothing": not space,
        "best_valid_rmse": best.value if best else None,
        "best_fold_rmse": best.user_attrs.get("fold_rmse") if best else None,
        "best_evaluation": best.number if best else None,
        "best_params": {**base, **decode(space, best.params)} if best else None,
        "best_search_params": decode(space, best.params) if best else None,
        # the incumbent each shorter budget would have chosen (only budgets this tuning spent)
        "incumbents": {f"{b:g}": described(incumbent_at(study, b)) for b in CURVE_BUDGETS
                       if b <= config.budget_s},
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
    threads = config.threads or cpu_share(config.executor, config.workers)
    # every subset's folds, and every journal that would be resumed checked against this
    # command's settings, before anything is written: a refused command changes nothing
    fold_sets = {}
    for subset in subsets:
        fold_sets[subset] = make_folds(load_training(folder, subset, config.allow_unverified_data), config.protocol,
                                       config.folds)
        for model in models:
            check_settings(journal_path(out, model, subset).absolute(), model, subset,
                           pair_settings(config, model, subset, fold_sets[subset], threads))
    _write_tune_json(out, config, models, subsets, threads)
    executor = make_executor(config.executor, config.workers, config.ray_address)
    summaries = []
    try:
        for subset in subsets:
            for model in models:
                reason = get_adapter(model).unavailable_reason()
                if reason:
                    console.print(f"[yellow]{model} {subset}: skipped - {reason}[/]")
                    continue
                summaries.append(tune_pair(config, model, subset, fold_sets[subset], console, executor, threads))
    finally:
        executor.close()
    return summaries


def _write_tune_json(out: Path, config: TuneConfig, models: list[str], subsets: list[str], threads: int) -> None:
    """The command's settings, machine and versions; a folder filled by several commands keeps
    what the earlier ones said (``previous_commands``)."""
    try:
        earlier = json.loads((out / "tune.json").read_text())
    except (OSError, json.JSONDecodeError):
        earlier = {}
    if not isinstance(earlier, dict):
        earlier = {}
    previous = list(earlier.pop("previous_commands", [])) + ([earlier] if earlier else [])
    write_text(out / "tune.json", json.dumps({
        "previous_commands": previous, "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "budget_s": config.budget_s, "budget_rule": BUDGET_RULE, "max_evaluations": config.max_evaluations,
        "folds": config.folds, "seed": config.seed, "profile": config.profile, "executor": config.executor,
        "workers": config.workers, "threads_per_fit": threads, "models": models, "subsets": subsets,
        "protocol": config.protocol.as_dict(), "protocol_hash": config.protocol.hash(),
        "machine": environment.machine(), "versions": environment.package_versions(),
    }, indent=2, default=str))


def journal_summary(out: Path, model: str, subset: str) -> list[dict[str, Any]]:
    """What a tuning decided, without its clock: per evaluation its number, state,
    parameters, value and fold RMSEs (two tunings that decided alike compare equal)."""
    study = load_pair_study(journal_path(out, model, subset), model, subset)
    return [{"number": t.number, "state": t.state.name, "params": t.params, "value": t.value,
             "fold_rmse": t.user_attrs.get("fold_rmse"), "interrupted": _is_interrupted(t)}
            for t in study.get_trials(deepcopy=False)]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m study.tune",
        description="Tune each (model, subset) with the same budget on folds of the training engines "
                    "(never the test files); rerun the same command to resume a killed tuning.")
    add_selection_options(parser)
    parser.add_argument("--budget", type=float, default=BUDGET_S, metavar="SECONDS",
                        help=f"wall-clock seconds per (model, subset) (default {BUDGET_S:g})")
    parser.add_argument("--max-evaluations", type=int, help="also stop a pair after this many evaluations")
    parser.add_argument("--folds", type=int, default=FOLDS, help=f"engine-disjoint folds per evaluation (default {FOLDS})")
    parser.add_argument("--seed", type=int, default=0, help="seeds the sampler and every fit (default 0)")
    parser.add_argument("--profile", default="default",
                        help="the parameters the search starts from (default: default, the out-of-the-box ones)")
    parser.add_argument("--out", type=Path, default=Path("runs/tuning"), help="tuning folder (default runs/tuning)")
    add_execution_options(parser, workers_help="fits at once with --executor local, and evaluations per batch "
                                               "(default 1)")
    parser.add_argument("--threads", type=int, help="CPU threads per fit (default: cores / workers; 1 on Ray)")
    add_data_options(parser)
    add_debug_option(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    console = Console() if Console().is_terminal else Console(width=200)
    config = TuneConfig(out=args.out, models=args.models, subsets=args.subsets, profile=args.profile,
                        budget_s=args.budget, max_evaluations=args.max_evaluations, folds=args.folds,
                        seed=args.seed, executor=args.executor, workers=args.workers, threads=args.threads,
                        ray_address=args.ray_address, data_dir=args.data_dir, offline=args.offline,
                        allow_unverified_data=args.allow_unverified_data)

    def body() -> int:
        from study.core.lock import run_folder_lock

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
