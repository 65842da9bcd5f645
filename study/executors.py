"""Executors run trials and hand each finished row back to the driver, which alone writes.

- ``inline``: in this process (fastest; a crashing library takes the study down with it).
- ``local`` (default): each trial in its own worker process, ``workers`` at a time; a trial
  that crashes its process or passes the profile's time limit becomes a ``failed`` row.
- ``ray``: trials as Ray tasks on a local instance or an existing cluster (``--ray-address``).
"""
from __future__ import annotations

import multiprocessing as mp
import os
import sys
import tempfile
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

import numpy as np

from study.errors import StudyError
from study.protocol import PreparedSubset
from study.trial import TrialSpec, base_row, run_trial

Prepared = dict[str, tuple[PreparedSubset, np.ndarray]]
OnRow = Callable[[TrialSpec, dict[str, Any]], None]
OnProgress = Callable[[TrialSpec, str], None]
EXECUTORS = ("local", "inline", "ray")


def failed_row(spec: TrialSpec, prepared: PreparedSubset, reason: str, wall: float) -> dict[str, Any]:
    """The row of a trial that never returned one (crash, kill, time limit)."""
    return {**base_row(spec, prepared), "status": "failed", "reason": reason, "wall_seconds": wall}


class Executor(ABC):
    """Runs trials; calls ``on_row`` in the driver as each one finishes."""

    @abstractmethod
    def run(self, specs: Sequence[TrialSpec], prepared: Prepared, max_rul: float, artifacts_root: Path,
            on_row: OnRow, on_progress: OnProgress) -> None: ...

    def close(self) -> None:
        """Release workers or cluster connections."""


def _artifacts(root: Path, spec: TrialSpec) -> Path:
    return root / f"{spec.model}-{spec.subset}-seed{spec.seed}"


class InlineExecutor(Executor):
    """Trials in the driver process, one after the other."""

    def run(self, specs, prepared, max_rul, artifacts_root, on_row, on_progress):
        for spec in specs:
            data, truth = prepared[spec.subset]
            on_progress(spec, "started")
            on_row(spec, run_trial(spec, data, truth, max_rul, _artifacts(artifacts_root, spec),
                                   progress=lambda msg, spec=spec: on_progress(spec, msg)))


def _process_worker(conn: Connection, spec: TrialSpec, data: PreparedSubset, truth: np.ndarray,
                    max_rul: float, artifacts: Path, sys_path: list[str]) -> None:
    sys.path[:] = sys_path  # third-party adapters found via the driver's path
    try:
        row = run_trial(spec, data, truth, max_rul, artifacts, progress=lambda msg: conn.send(("progress", msg)))
        conn.send(("row", row))
    finally:
        conn.close()


class ProcessExecutor(Executor):
    """One worker process per trial, at most ``workers`` at once, each with a hard time limit."""

    def __init__(self, workers: int = 1):
        if workers < 1:
            raise StudyError(f"--workers must be at least 1 (got {workers}).")
        self.workers = workers
        # forkserver: workers fork from a clean single-threaded server (safe with torch threads)
        method = "forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn"
        self.ctx = mp.get_context(method)

    def run(self, specs, prepared, max_rul, artifacts_root, on_row, on_progress):
        queue = list(specs)
        active: dict[Connection, tuple[TrialSpec, Any, float]] = {}
        while queue or active:
            while queue and len(active) < self.workers:
                spec = queue.pop(0)
                data, truth = prepared[spec.subset]
                parent, child = self.ctx.Pipe(duplex=False)
                proc = self.ctx.Process(target=_process_worker, daemon=True, args=(
                    child, spec, data, truth, max_rul, _artifacts(artifacts_root, spec), list(sys.path)))
                proc.start()
                child.close()
                active[parent] = (spec, proc, time.monotonic())
                on_progress(spec, "started")
            for conn in wait(list(active), timeout=0.5):
                spec, proc, started = active[conn]
                try:
                    kind, payload = conn.recv()
                except EOFError:  # the worker died without a row
                    proc.join(5)
                    del active[conn]
                    on_row(spec, failed_row(spec, prepared[spec.subset][0], _death_reason(proc.exitcode),
                                            time.monotonic() - started))
                    continue
                if kind == "progress":
                    on_progress(spec, payload)
                else:
                    proc.join(30)
                    del active[conn]
                    on_row(spec, payload)
            for conn, (spec, proc, started) in list(active.items()):
                elapsed = time.monotonic() - started
                if spec.time_limit_s and elapsed > spec.time_limit_s:
                    proc.kill()
                    proc.join(5)
                    del active[conn]
                    on_row(spec, failed_row(spec, prepared[spec.subset][0],
                                            f"killed after exceeding the per-trial time limit of {spec.time_limit_s:g} s",
                                            elapsed))


def _death_reason(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        import signal

        name = signal.Signals(-exitcode).name if -exitcode in signal.Signals._value2member_map_ else str(-exitcode)
        hint = " (out of memory?)" if name == "SIGKILL" else ""
        return f"worker process crashed: killed by {name}{hint}"
    return f"worker process exited with code {exitcode} without a result"


def _ray_trial(spec: TrialSpec, data: PreparedSubset, truth: np.ndarray, max_rul: float,
               artifacts_root: Path, sys_path: list[str]) -> dict[str, Any]:
    """A Ray task: the trial runs in its own process inside the Ray worker, so a crash or the
    time limit is caught there exactly as with the local executor."""
    sys.path[:] = sys_path + [p for p in sys.path if p not in sys_path]
    rows: list[dict[str, Any]] = []
    ProcessExecutor(1).run([spec], {spec.subset: (data, truth)}, max_rul, artifacts_root,
                           on_row=lambda _, row: rows.append(row), on_progress=lambda *_: None)
    return rows[0]


class RayExecutor(Executor):
    """Trials as Ray tasks (one CPU each by default); rows come back to the driver as they finish."""

    def __init__(self, address: str | None = None, num_cpus: int | None = None, cpus_per_trial: float = 1):
        try:
            import ray
        except ImportError as exc:
            raise StudyError("--executor ray needs Ray: pip install -e '.[ray]'.") from exc
        self.ray = ray
        self.cpus_per_trial = cpus_per_trial
        os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # Ray 2.60 otherwise demands a token
        if not ray.is_initialized():
            if address:
                ray.init(address=address, log_to_driver=False)
            else:
                self._tmp = tempfile.mkdtemp(prefix="ray-")
                ray.init(num_cpus=num_cpus or os.cpu_count(), include_dashboard=False, log_to_driver=False,
                         _temp_dir=self._tmp)
        self.owns = not address

    def run(self, specs, prepared, max_rul, artifacts_root, on_row, on_progress):
        ray = self.ray
        task = ray.remote(num_cpus=self.cpus_per_trial, max_retries=0)(_ray_trial)
        refs = {s: (ray.put(d), ray.put(t)) for s, (d, t) in prepared.items() if any(x.subset == s for x in specs)}
        pending: dict[Any, tuple[TrialSpec, float]] = {}
        for spec in specs:
            data_ref, truth_ref = refs[spec.subset]
            ref = task.remote(spec, data_ref, truth_ref, max_rul, artifacts_root, list(sys.path))
            pending[ref] = (spec, time.monotonic())
            on_progress(spec, "submitted")
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1, timeout=0.5)
            for ref in done:
                spec, started = pending.pop(ref)
                try:
                    row = ray.get(ref)
                except Exception as exc:  # the Ray worker itself died: a failed row, not a crash
                    row = failed_row(spec, prepared[spec.subset][0],
                                     f"Ray task failed: {type(exc).__name__}: {str(exc)[:300]}", time.monotonic() - started)
                on_row(spec, row)

    def close(self) -> None:
        if self.owns and self.ray.is_initialized():
            self.ray.shutdown()


def make_executor(name: str, workers: int = 1, ray_address: str | None = None) -> Executor:
    """Build an executor by name; an unknown name lists the valid ones."""
    if name == "inline":
        return InlineExecutor()
    if name == "local":
        return ProcessExecutor(workers)
    if name == "ray":
        return RayExecutor(ray_address, num_cpus=None)
    raise StudyError(f"Unknown executor {name!r}; valid executors: {', '.join(EXECUTORS)}.")
