"""The study runner: data -> protocol -> (model x subset x seed) trials -> rows -> tables.

A run is explicit: ``open_run`` validates the configuration, checks the run folder, takes its
lock and computes the CPU share, once, into a ``RunPlan``; ``run_study`` runs that plan.
Rows are appended as each trial finishes, tables and run.json are rewritten after every
trial, and a rerun of the same command reuses finished trials (``force`` reruns them).
"""
from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from study.core import atomic

from study.core import environment

from study.contract.adapter import Adapter
from study.contract.profiles import get_profile
from study.contract.registry import all_adapters, get_adapter, registrations
from study.core.cli import check_list
from study.core.errors import AllTrialsFailed, StudyError
from study.core.lock import FolderLock, run_folder_lock
from study.data import fetch
from study.data.cmapss import SUBSETS, load_subset
from study.data.protocol import PreparedSubset, Protocol, prepare
from study.execution.executors import Job, cpu_share, make_executor, trial_job
from study.execution.sinks import MlflowSink
from study.execution.trial import TrialSpec
from study.records.leaderboard import N_SEEDS, RMSE_STD
from study.records.migration import key_params as hashed_params
from study.records.rows import Field as F
from study.records.rows import copied_row, failure_summary, variant
from study.records.selection import Selection, configs_from, remember_configs, select
from study.records.store import RUN_INFO_FILE, ResultStore, config_key, read_run_info, trial_key, variant_trial_key
from study.records.tables import write_tables
from study.records.tuned_configs import TUNE_AGAIN, load_tuned, tuned_for

#: With output that is not a terminal (a log file, CI), at most one progress line per trial
#: this often, in seconds: a live display shows nothing there until the run ends.
PROGRESS_LINE_EVERY_S = 30.0


@dataclass
class RunConfig:
    """Everything the command line can set."""

    out: Path
    profile: str = "standard"
    subsets: Sequence[str] | None = None
    models: Sequence[str] | None = None
    seeds: int | None = None
    data_dir: Path | None = None
    offline: bool = False
    allow_unverified_data: bool = False
    force: bool = False
    model_params: dict[str, dict[str, Any]] = field(default_factory=dict)
    protocol: Protocol = field(default_factory=Protocol)
    executor: str = "local"
    workers: int = 1
    ray_address: str | None = None
    mlflow_uri: str | None = None
    time_limit_s: float | None = None  # per trial; default: the profile's
    tuned_dir: Path | None = None  # run each pair at its tuned configuration (study.records.tuned_configs)
    tuned_budget_s: float | None = None  # ... at the incumbent of this budget point (CPU seconds)

    def resolved(self) -> RunConfig:
        """Fill profile defaults and validate names (errors list the valid ones)."""
        profile = get_profile(self.profile)
        check_list("--subsets", self.subsets)
        check_list("--models", self.models)
        subsets = list(self.subsets or profile.subsets)
        bad = [s for s in subsets if s not in SUBSETS]
        if bad:
            raise StudyError(f"Unknown subset(s) {', '.join(bad)}; valid subsets: {', '.join(SUBSETS)}.")
        if self.tuned_budget_s is not None and not self.tuned_dir:
            raise StudyError("--tuned-budget picks a budget point of a tuning: give the tuning with --tuned DIR.")
        models = list(self.models or (tuned_models(self.tuned_dir, subsets, self.tuned_budget_s) if self.tuned_dir
                                      else all_adapters()))
        for name in models:
            get_adapter(name)
        seeds = self.seeds if self.seeds is not None else profile.seeds
        if seeds < 1:
            raise StudyError(f"--seeds must be at least 1 (got {seeds}).")
        if self.workers < 1:
            raise StudyError(f"--workers must be at least 1 (got {self.workers}).")
        if self.time_limit_s is not None and not self.time_limit_s > 0:  # nan too
            raise StudyError(f"--time-limit must be a positive number of seconds (got {self.time_limit_s:g}).")
        _check_model_params(self.model_params, models, self.profile, subsets)
        if self.tuned_dir:
            _check_tuned(self.tuned_dir, models, subsets, self.profile, self.protocol, self.tuned_budget_s)
        return RunConfig(**{**asdict(self), "subsets": subsets, "models": models, "seeds": seeds,
                            "protocol": self.protocol})


@dataclass(frozen=True)
class RunPlan:
    """A run checked once (``open_run``): its resolved configuration, the held lock of its
    folder, and what each trial gets (its CPU share, its time limit). ``run_study`` runs a
    plan as given and never validates or locks again."""

    config: RunConfig  # resolved: names checked, profile defaults filled
    lock: FolderLock
    threads: int  # each trial's CPU share (study.execution.executors.cpu_share)
    time_limit_s: float | None  # per trial: --time-limit or the profile's


@contextmanager
def open_run(config: RunConfig, console: Console | None = None) -> Iterator[RunPlan]:
    """Validate ``config`` (bad options refused before the folder is touched), check its run
    folder can be written, hold its lock for the ``with`` block (the report too, for the
    command) and compute the CPU share: the one place a run is checked."""
    console = console or Console()
    if not config.models:  # "every model": say which registered ones cannot even be loaded
        for reg in registrations():
            if not reg.loaded:
                console.print(f"[yellow]Warning:[/] model {reg.name!r} ({reg.source}) is left out: {reg.error}",
                              highlight=False, soft_wrap=True)
    config = config.resolved()
    _check_writable(config.out)
    with run_folder_lock(config.out) as lock:
        yield RunPlan(config=config, lock=lock, threads=cpu_share(config.executor, config.workers),
                      time_limit_s=config.time_limit_s or get_profile(config.profile).trial_time_limit_s)


def tuned_models(tuned_dir: Path, subsets: Sequence[str], budget_s: float | None = None) -> list[str]:
    """Without ``--models``, a tuned run runs every model tuned on all its subsets (a model the
    tuner could not run here, such as Chronos without its weights, has no configuration)."""
    tuned = load_tuned(tuned_dir, budget_s)
    models = sorted({m for m, _ in tuned if all((m, s) in tuned for s in subsets)})
    if not models:
        raise StudyError(f"--tuned {tuned_dir}: no model has a tuned configuration for every subset of this run "
                         f"({', '.join(subsets)}); tune them first (python -m study.tune) or name --subsets.")
    return models


def _check_model_params(model_params: dict[str, dict[str, Any]], models: list[str], profile: str = "standard",
                        subsets: Sequence[str] = ()) -> None:
    """``--set`` must name a model of this run and one of its parameters, at a value in the
    adapter's ``param_ranges``: a typo or a nonsense value would otherwise be ignored, or fail
    (or quietly train nothing) in every trial of that model after the others had run."""
    for model, params in model_params.items():
        if model not in models:
            raise StudyError(f"--set names {model!r}, which this run does not include; "
                             f"models in this run: {', '.join(models)}.")
        check_params("--set", model, params, profile, subsets)


def check_params(where: str, model: str, params: dict[str, Any], profile: str, subsets: Sequence[str] = (),
                 then: str = "") -> None:
    """``params`` laid over ``model``'s parameters for ``profile`` (on each of ``subsets``) must
    name parameters the adapter has, at values in its ``param_ranges`` (numbers where a range
    is set); else a ``StudyError`` starting with ``where`` (the option or file they came from)
    and ending with ``then`` (the way out). One check for ``--set`` and tuned configurations."""
    adapter = get_adapter(model)
    valid = adapter.default_params
    unknown = sorted(set(params) - set(valid))
    tail = f" {then}" if then else ""
    if unknown:
        raise StudyError(f"{where}: {model} has no parameter {', '.join(unknown)}; "
                         f"valid: {', '.join(sorted(valid))}.{tail}")
    for subset in subsets or (None,):
        problems = adapter.param_problems({**adapter.params_for(profile, subset), **params})
        if problems:
            raise StudyError(f"{where}: {model}: " + "; ".join(problems) + f".{tail}")


def _check_tuned(tuned_dir: Path, models: list[str], subsets: list[str], profile: str, protocol: Protocol,
                 budget_s: float | None = None) -> None:
    """A tuned run's configurations, checked before the run folder is touched: every pair tuned,
    under this protocol, with parameters its adapter has, in their ranges (a damaged or
    hand-edited summary would otherwise fail every trial of its pair, after the others had run)."""
    tuned = tuned_for(load_tuned(tuned_dir, budget_s), models, subsets, protocol.selection_hash())
    for (model, subset), config in tuned.items():
        check_params(f"--tuned: {config.path}", model, config.params, profile, [subset], then=TUNE_AGAIN)


def _check_writable(out: Path) -> None:
    """Create the run folder (the lock lives in it) and prove it writable: a path that cannot
    be one is a user error, named before any work."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".write-test-{os.getpid()}"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise StudyError(f"Cannot write results to {out}: {exc.strerror or exc}. Choose another --out.") from exc


def load_prepared(config: RunConfig, log=print) -> dict[str, tuple[PreparedSubset, np.ndarray, dict[str, str]]]:
    """Locate, verify, parse and prepare each requested subset (truth kept apart)."""
    folder = fetch.locate(config.data_dir, offline=config.offline, log=log)
    prepared = {}
    for subset in config.subsets:
        raw = load_subset(folder, subset, allow_unverified=config.allow_unverified_data)
        data, truth = prepare(raw, config.protocol)
        prepared[subset] = (data, truth, raw.checksums)
    return prepared


def run_profile(adapter: type[Adapter], profile: str) -> str:
    """The profile a model's trials run and are recorded under. ``default`` promises the
    library's out-of-the-box settings: an adapter that declares none (no ``profiles["default"]``)
    runs its author's chosen settings, which are the ``standard`` profile's, and its rows say so
    (variant ``hand-tuned``, the same trials as a standard run's)."""
    return "standard" if profile == "default" and "default" not in adapter.profiles else profile


def without_default_profile(models: Iterable[str], profile: str) -> list[str]:
    """The models ``run_profile`` records as ``standard`` under ``profile``."""
    return [model for model in models if run_profile(get_adapter(model), profile) != profile]


def plan_trials(config: RunConfig, prepared: dict, *, threads: int, time_limit_s: float | None) -> list[TrialSpec]:
    """The grid of trials, each with its resume key; ``threads`` and ``time_limit_s`` are the
    plan's (``RunPlan``), the same for every trial."""
    limit = time_limit_s
    specs = []
    tuned = tuned_for(load_tuned(config.tuned_dir, config.tuned_budget_s), list(config.models), list(config.subsets),
                      config.protocol.selection_hash()) if config.tuned_dir else {}
    for model in config.models:
        for subset in config.subsets:
            adapter = get_adapter(model)
            profile = run_profile(adapter, config.profile)
            defaults = adapter.params_for(profile, subset)
            if (model, subset) in tuned:
                defaults = {**defaults, **tuned[model, subset].params}
            overrides = {name: _like(defaults.get(name), value)
                         for name, value in config.model_params.get(model, {}).items()}
            params = {**defaults, **overrides}
            key_params = hashed_params(model, params)
            data = prepared[subset][0]
            configuration = config_key(model, key_params, subset, data.protocol_hash, data.data_fingerprint)
            link = tuned[model, subset].link if (model, subset) in tuned else None
            for seed in range(config.seeds):
                plain = trial_key(model, key_params, subset, seed, data.protocol_hash, data.data_fingerprint)
                key = variant_trial_key(plain, profile, tuning_identity(link) if link else None)
                specs.append(TrialSpec(model, subset, seed, params, key, configuration, limit, threads, tuning=link,
                                       same_as=plain if key != plain else "", profile=profile,
                                       refit=config.protocol.refit))
    return specs


def tuning_identity(link: dict[str, Any]) -> str:
    """What makes a tuned variant's trials its own: the tuning study, and the budget point when
    the configuration is a shorter budget's incumbent (two budget points may pick the same
    configuration: then their rows share one computation and the second is a copy)."""
    point = link.get("budget_point_s")
    return link["study_id"] if point is None else f"{link['study_id']}@{float(point):g}s"


def shared_rows(todo: list[TrialSpec], done: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows for the trials in ``todo`` whose computation a finished row already made: a tuned
    configuration equal to the out-of-the-box one, or library defaults equal to the hand-chosen
    settings, are the same model, parameters, data and seed, so they are not run twice. Each copy takes the asking trial's
    identity (key, tuning link, profile) and names the row it copies (``Field.COPIED_FROM``)."""
    computed = {row.get(F.SAME_AS) or row[F.KEY]: row for row in done}
    out = []
    for spec in todo:
        source = computed.get(spec.same_as or spec.key)
        if source is None:
            continue
        out.append(copied_row(source, spec))
    return out


def _like(default: Any, value: Any) -> Any:
    """An override as the default's number type (``--set lstm.lr=1`` is the float 1.0), so an
    override equal to the default gives the same trial key and reuses its result."""
    if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def write_outputs(out: Path, rows: list[dict[str, Any]], run_info: dict[str, Any],
                  selection: Selection | None = None) -> pd.DataFrame:
    """Derive leaderboard.csv/.md, predictions.csv (and selection.json) and run.json from the
    study rows (and the selection that picked them)."""
    table = write_tables(out, rows, unverified=not run_info.get("data_verified", True), selection=selection)
    atomic.write_text(out / RUN_INFO_FILE, json.dumps(run_info, indent=2, default=str))
    return table


def run_study(plan: RunPlan | RunConfig, console: Console | None = None, debug: bool = False) -> pd.DataFrame:
    """Run (or resume) a study and return its leaderboard. ``plan``: from ``open_run``, whose
    lock must still be held (refused otherwise: nothing here locks or validates again); a
    ``RunConfig`` is opened here, for the length of this call (library callers, tests).
    ``debug``: print each failed trial's traceback. Raises ``AllTrialsFailed`` (exit 3),
    outputs written, when none of the command's trials succeeded and some failed."""
    console = console or Console()
    if isinstance(plan, RunConfig):
        with open_run(plan, console) as opened:
            return _run_planned(opened, console, debug)
    if not plan.lock.held or plan.lock.folder != Path(plan.config.out).resolve():
        raise RuntimeError(f"run_study needs a plan whose run folder lock is held (open_run); the lock of "
                           f"{plan.lock.folder} is {'held' if plan.lock.held else 'released'}, and the run "
                           f"writes {plan.config.out}.")
    return _run_planned(plan, console, debug)


def _run_planned(plan: RunPlan, console: Console, debug: bool = False) -> pd.DataFrame:
    config = plan.config
    started = time.time()
    sink = MlflowSink(config.mlflow_uri) if config.mlflow_uri else None  # a bad URI is refused before any work
    prepared = load_prepared(config, log=console.print)
    specs = plan_trials(config, prepared, threads=plan.threads, time_limit_s=plan.time_limit_s)

    def warn(message: str) -> None:
        console.print(f"[bold yellow]Warning:[/] {message}", highlight=False, soft_wrap=True)

    for model in without_default_profile(config.models, config.profile):
        warn(f"{model} declares no profiles['default'] (its library's out-of-the-box settings): it runs its own "
             "chosen settings, recorded as the standard profile, so its rows are labelled hand-tuned, not default.")
    store = ResultStore(config.out, warn=warn)
    repaired = store.repair_tail()
    if repaired:
        warn(repaired)
    # only successful trials are reused: a skipped or failed one may succeed now (a library
    # installed, weights downloaded, a bug fixed), and retrying a skip costs nothing
    done = {k: r for k, r in store.latest_by_key().items() if r.get(F.STATUS) == "ok"}
    wanted = {s.key for s in specs}
    todo = specs if config.force else [s for s in specs if s.key not in done]
    shared = [] if config.force else shared_rows(todo, done.values())
    todo = [s for s in todo if s.key not in {row[F.KEY] for row in shared}]
    reused = 0 if config.force else len(wanted & set(done))
    verified = all(p[0].verified for p in prepared.values())
    previous = read_run_info(config.out, warn=warn)  # a corrupt one is reported and rewritten
    run_info: dict[str, Any] = {
        "config": {**asdict(config), "protocol": None},
        "protocol": config.protocol.as_dict(), "protocol_hash": config.protocol.hash(),
        "protocol_card": config.protocol.card(),
        "data_checksums": {s: p[2] for s, p in prepared.items()}, "data_verified": verified,
        "versions": environment.package_versions(), "machine": environment.machine(),
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
        "n_trials": len(specs), "n_reused": reused,
        "previous_runs": _previous_runs(previous),
        # what each planned model and subset's tables show, kept across commands (study.report)
        "configs": remember_configs(previous.get("configs", {}), {f"{s.model}/{s.subset}": s.config for s in specs}),
    }
    if not verified:
        console.print("[bold yellow]Warning:[/] running on unverified data (checksums differ from NASA's files).")
    console.print(f"{len(specs)} trial{'' if len(specs) == 1 else 's'} planned, {reused} reused from {store.path}, "
                  + (f"{len(shared)} the same computation as another variant's (copied, not run again), "
                     if shared else "") + f"{len(todo)} to run.")
    fingerprints = {subset: p[0].data_fingerprint for subset, p in prepared.items()}

    rows = store.rows()  # read once: while it runs, this driver is the only writer
    rows += [store.append(row) for row in shared]

    def refresh_outputs() -> pd.DataFrame:
        selection = select(rows, config.protocol.hash(), fingerprints, configs_from(run_info))
        return write_outputs(config.out, selection.apply(rows), run_info, selection)

    executor = make_executor(config.executor, config.workers, config.ray_address)
    t_trials = time.time()
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console, transient=False) as progress:
        overall = progress.add_task("trials", total=len(todo))
        current = progress.add_task("", total=None)

        lines = None if console.is_terminal else ProgressLines(console)

        def on_progress(job: Job, message: str) -> None:
            spec = job.spec
            progress.update(current, description=f"  {spec.model} {spec.subset} seed {spec.seed}: {message}")
            if lines is not None:
                lines(spec, message)

        def on_row(job: Job, row: dict[str, Any]) -> None:
            rows.append(store.append(row))  # the driver alone writes rows, as each trial finishes
            if sink is not None:
                try:
                    sink.log(row)
                except Exception as exc:  # the row is safe in trials.jsonl; the sink is a copy
                    console.print(f"[yellow]MLflow logging failed for {row[F.MODEL]} {row[F.SUBSET]}: {exc}[/]")
            _print_row(console, row, debug)
            refresh_outputs()
            progress.advance(overall)

        try:
            executor.run([trial_job(spec) for spec in todo], {s: (p[0], p[1]) for s, p in prepared.items()},
                         config.protocol.max_rul,
                         config.out / "artifacts", on_row, on_progress)
        finally:
            executor.close()
        progress.remove_task(current)
    run_info["trials_seconds"] = time.time() - t_trials
    run_info["finished_at"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    run_info["total_seconds"] = time.time() - started
    table = refresh_outputs()
    console.print(render_table(table, verified))
    _check_some_succeeded(rows, wanted, debug)
    return table


def _check_some_succeeded(rows: list[dict[str, Any]], wanted: set[str], debug: bool) -> None:
    """Refuse to pass a command none of whose trials succeeded while some failed (exit 3): a
    script must not read "every trial failed" as a finished study. Skipped trials alone (a
    library not installed) are not failures."""
    latest = {row[F.KEY]: row for row in rows if row[F.KEY] in wanted}
    outcomes = list(latest.values())
    statuses = {row[F.STATUS] for row in outcomes}
    if "ok" in statuses or "failed" not in statuses:
        return
    hint = "" if debug else " Rerun with --debug to print each failed trial's traceback (the rows' `traceback` field)."
    raise AllTrialsFailed(f"Every trial failed ({len(outcomes)} trial{'' if len(outcomes) == 1 else 's'}): "
                          f"{failure_summary(outcomes)}.{hint}")


class ProgressLines:
    """Progress messages as plain lines, for output that is not a terminal (a log, CI), where
    the live display shows nothing until the run ends: at most one line per trial every
    ``every_s`` seconds (its first message always), so per-epoch messages do not flood the log."""

    def __init__(self, console: Console, every_s: float | None = None, clock=time.monotonic):
        self.console, self.clock = console, clock
        self.every_s = PROGRESS_LINE_EVERY_S if every_s is None else every_s
        self._last: dict[str, float] = {}

    def __call__(self, spec: TrialSpec, message: str) -> None:
        now, last = self.clock(), self._last.get(spec.key)
        if last is not None and now - last < self.every_s:
            return
        self._last[spec.key] = now
        self.console.print(f"  {spec.model} {spec.subset} seed {spec.seed}: {message}", highlight=False,
                           markup=False, soft_wrap=True)


def _previous_runs(old: dict[str, Any]) -> list[dict[str, Any]]:
    """Summaries of earlier commands on this run folder (a study can be built by several),
    from the run.json the last of them wrote."""
    if not old:
        return []
    summary = {k: old.get(k) for k in ("started_at", "finished_at", "total_seconds", "n_trials", "n_reused")}
    summary["models"] = old.get("config", {}).get("models")
    summary["subsets"] = old.get("config", {}).get("subsets")
    summary["seeds"] = old.get("config", {}).get("seeds")
    return old.get("previous_runs", []) + [summary]


def _print_row(console: Console, row: dict[str, Any], debug: bool = False) -> None:
    where = f"{row[F.MODEL]} ({variant(row)}) {row[F.SUBSET]} seed {row[F.SEED]}"
    if row[F.STATUS] == "ok":
        console.print(f"  {where}: RMSE {row[F.RMSE]:.2f}  score {row[F.SCORE]:.0f}  fit {row[F.FIT_SECONDS]:.1f}s")
    else:
        console.print(f"  {where}: [yellow]{row[F.STATUS]}[/] - {row[F.REASON]}")
    if debug and row.get(F.TRACEBACK):  # the adapter's own traceback, from the trial's process
        console.print(row[F.TRACEBACK].rstrip(), markup=False, highlight=False, soft_wrap=True)


def render_table(table: pd.DataFrame, verified: bool = True) -> Table:
    """The leaderboard as a rich table for the terminal."""
    title = "Leaderboard (RMSE on capped test RUL, mean over seeds)"
    if not verified:
        title += " - UNVERIFIED DATA"
    out = Table(title=title, min_width=90)
    names = [F.MODEL, F.VARIANT, F.SUBSET, F.STATUS]
    cols = [*names, F.RMSE, RMSE_STD, F.SCORE, F.MAE, N_SEEDS, F.FIT_SECONDS]
    for col in cols:
        out.add_column(col, justify="left" if col in names else "right", no_wrap=col in names[:3])
    for _, r in table.iterrows():
        out.add_row(*["" if pd.isna(r[c]) else (f"{r[c]:.2f}" if isinstance(r[c], float) else str(r[c])) for c in cols])
    return out
