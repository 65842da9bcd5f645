"""Executors run trials and hand each finished row back to the driver, which alone writes.

- ``inline``: in this process (fastest; a crashing library takes the study down with it).
- ``local`` (default): each trial in its own worker process, ``workers`` at a time; a trial
  that crashes its process or passes the profile's time limit becomes a ``failed`` row. A
  worker is its own process group and dies, with whatever it started, when its driver dies
  or stops, or when its time limit passes even with no driver left (``_guard_worker``).
- ``ray``: trials as Ray tasks on a local instance or an existing cluster (``--ray-address``).
"""
from __future__ import annotations

import multiprocessing as mp
import os
import sys
import tempfile
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

import numpy as np

from study.contract.registry import get_adapter
from study.core.errors import EnvironmentFault, StudyError
from study.data.protocol import PreparedSubset
from study.execution.trial import TrialSpec, run_trial
from study.records.rows import Field as F
from study.records.rows import TrialRow, trial_row, variant

Prepared = dict[str, tuple[PreparedSubset, np.ndarray]]
OnRow = Callable[[TrialSpec, dict[str, Any]], None]
OnProgress = Callable[[TrialSpec, str], None]
EXECUTORS = ("local", "inline", "ray")


def failed_row(spec: TrialSpec, prepared: PreparedSubset, reason: str, wall: float) -> TrialRow:
    """The row of a trial that never returned one (crash, kill, time limit)."""
    return trial_row(spec, prepared, get_adapter(spec.model).tags, "failed", reason, wall_seconds=wall)


class Executor(ABC):
    """Runs trials; calls ``on_row`` in the driver as each one finishes."""

    @abstractmethod
    def run(self, specs: Sequence[TrialSpec], prepared: Prepared, max_rul: float, artifacts_root: Path,
            on_row: OnRow, on_progress: OnProgress) -> None: ...

    def close(self) -> None:
        """Release workers or cluster connections."""


def _artifacts(root: Path, spec: TrialSpec) -> Path:
    """A trial's artifacts folder; a variant other than the hand-tuned one (whose folders were
    named before variants existed) is in the name, so variants of a model never share one."""
    kind = variant({F.TUNING: spec.tuning, F.PROFILE: spec.profile})
    name = (f"{spec.model}-{spec.subset}-seed{spec.seed}" if kind == "hand-tuned"
            else f"{spec.model}-{kind}-{spec.subset}-seed{spec.seed}")
    return Path(root).absolute() / name


@contextmanager
def trial_folder(folder: Path) -> Iterator[Path]:
    """Run a trial with its artifacts ``folder`` as the working directory, so the files a library
    writes there unasked (catboost_info/, lightning_logs/) stay with the trial, not wherever the
    study was started. The previous directory is restored after, and the folder removed again if
    the trial left it empty; relative ``sys.path`` entries ('' included) keep naming their folders.
    A folder that cannot be made (a Ray node without the driver's path) leaves the directory as it was."""
    folder = Path(folder).absolute()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        made = True
    except OSError:
        made = False
    if not made:
        yield folder
        return
    previous, original = os.getcwd(), list(sys.path)
    absolute = [os.path.abspath(entry) for entry in original]
    sys.path[:] = absolute
    os.chdir(folder)
    try:
        yield folder
    finally:
        os.chdir(previous)
        if sys.path == absolute:  # else the trial changed it: its absolute entries are as good
            sys.path[:] = original
        try:
            folder.rmdir()  # only when empty
        except OSError:
            pass


class InlineExecutor(Executor):
    """Trials in the driver process, one after the other, each in its artifacts folder."""

    def run(self, specs, prepared, max_rul, artifacts_root, on_row, on_progress):
        for spec in specs:
            data, truth = prepared[spec.subset]
            on_progress(spec, "started")
            with trial_folder(_artifacts(artifacts_root, spec)) as folder:
                row = run_trial(spec, data, truth, max_rul, folder,
                                progress=lambda msg, spec=spec: on_progress(spec, msg))
            on_row(spec, row)


def _process_worker(conn: Connection, spec: TrialSpec, data: PreparedSubset, truth: np.ndarray,
                    max_rul: float, artifacts: Path, sys_path: list[str], driver_pid: int | None = None) -> None:
    """A trial in its own process group, which dies with the driver and within its time limit
    even when the driver is gone (``_watch``); its result goes back through ``conn``."""
    sys.path[:] = sys_path  # third-party adapters found via the driver's path
    _guard_worker(driver_pid, spec.time_limit_s)

    def send(message: tuple[str, Any]) -> None:
        try:
            conn.send(message)
        except OSError:  # the driver is gone (BrokenPipeError): nobody to report to, stop quietly
            _kill_own_group()

    try:
        with trial_folder(artifacts) as folder:
            row = run_trial(spec, data, truth, max_rul, folder, progress=lambda msg: send(("progress", msg)))
        send(("row", row))
    finally:
        conn.close()


#: Seconds a worker allows past its trial's time limit before its own watchdog kills it (the
#: driver normally kills it first and records why).
WATCHDOG_GRACE_S = 5.0
_PR_SET_PDEATHSIG = 1


def _guard_worker(driver_pid: int | None, time_limit_s: float | None) -> None:
    """Make this worker its own process group (so killing the group stops the library
    processes it starts too), have the kernel signal it when its parent dies (Linux
    ``prctl(PR_SET_PDEATHSIG)``), and start a watchdog thread for the driver's death and the
    trial's time limit. Either way the whole group is killed."""
    import signal
    import threading

    try:
        os.setpgid(0, 0)
    except OSError:
        pass  # already a group leader, or not allowed: the watchdog still kills this process
    parent = os.getppid()
    try:  # SIGUSR1, not SIGKILL: its handler takes the worker's own children along (it runs
        # once the main thread is back in Python; the watchdog thread is the second line)
        signal.signal(signal.SIGUSR1, lambda *_: _kill_own_group())
        if sys.platform.startswith("linux"):
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGUSR1), 0, 0, 0)
    except (OSError, AttributeError, ValueError):
        pass  # no prctl here: the watchdog thread below notices a dead driver within a second
    if os.getppid() != parent:  # the parent died before the death signal was armed
        _kill_own_group()
    deadline = time.monotonic() + time_limit_s + WATCHDOG_GRACE_S if time_limit_s else None
    threading.Thread(target=_watch, args=(parent, driver_pid, deadline), daemon=True,
                     name="trial-watchdog").start()


def _watch(parent: int, driver_pid: int | None, deadline: float | None, every_s: float = 0.2) -> None:
    """Kill this worker's process group once its parent or the driver is gone, or past the deadline."""
    while True:
        time.sleep(every_s)
        if os.getppid() != parent or (driver_pid is not None and not _alive(driver_pid)):
            _kill_own_group()
        if deadline is not None and time.monotonic() > deadline:
            _kill_own_group()


def _alive(pid: int) -> bool:
    """Whether a process exists and is not a zombie (a killed driver stays one until reaped)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            return handle.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return True


def _kill_own_group() -> None:
    """SIGKILL this process's group: the worker and every process it started."""
    import signal

    try:
        if os.getpgid(0) == os.getpid():
            os.killpg(os.getpid(), signal.SIGKILL)
    except OSError:
        pass
    os.kill(os.getpid(), signal.SIGKILL)


def _kill_worker(proc: Any) -> None:
    """Kill a worker and its process group (the library processes it started)."""
    import signal

    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (OSError, TypeError):
        pass  # not (yet) a group leader, or gone
    try:
        proc.kill()
    except (OSError, ValueError):
        pass


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
        self._active = active  # close() kills what is still running (Ctrl-C, SIGTERM, an error)
        while queue or active:
            while queue and len(active) < self.workers:
                spec = queue.pop(0)
                data, truth = prepared[spec.subset]
                parent, child = self.ctx.Pipe(duplex=False)
                proc = self.ctx.Process(target=_process_worker, daemon=True, args=(
                    child, spec, data, truth, max_rul, _artifacts(artifacts_root, spec), list(sys.path),
                    os.getpid()))
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
                    _kill_worker(proc)  # whatever it started dies with it
                    del active[conn]
                    elapsed = time.monotonic() - started
                    reason = (_limit_reason(spec) if spec.time_limit_s and elapsed > spec.time_limit_s
                              else _death_reason(proc.exitcode))  # its own watchdog enforced the limit
                    on_row(spec, failed_row(spec, prepared[spec.subset][0], reason, elapsed))
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
                    _kill_worker(proc)
                    proc.join(5)
                    del active[conn]
                    on_row(spec, failed_row(spec, prepared[spec.subset][0], _limit_reason(spec), elapsed))

    def close(self) -> None:
        """Kill the workers still running (and what they started): none outlives the run."""
        for conn, (_, proc, _) in list(getattr(self, "_active", {}).items()):
            _kill_worker(proc)
            proc.join(5)
            conn.close()
        self._active = {}


def _limit_reason(spec: TrialSpec) -> str:
    return f"killed after exceeding the per-trial time limit of {spec.time_limit_s:g} s"


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
                _check_reachable(address)
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


def _check_reachable(address: str, timeout_s: float = 10.0) -> None:
    """Refuse a ``--ray-address`` nothing answers at within seconds (``ray.init`` would retry
    for minutes). Only plain ``HOST:PORT`` addresses are probed; ``auto`` and ``ray://`` go to Ray."""
    import socket

    host, sep, port = address.rpartition(":")
    if not sep or "://" in address or not port.isdigit():
        return
    try:
        socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout_s).close()
    except OSError as exc:
        raise EnvironmentFault(f"No Ray cluster answers at --ray-address {address} ({exc.strerror or exc}). Start "
                               "one there (ray start --head --port=PORT), fix the address, or leave --ray-address "
                               "out to start a local Ray instance.") from exc


def make_executor(name: str, workers: int = 1, ray_address: str | None = None) -> Executor:
    """Build an executor by name; an unknown name lists the valid ones."""
    if name == "inline":
        return InlineExecutor()
    if name == "local":
        return ProcessExecutor(workers)
    if name == "ray":
        return RayExecutor(ray_address, num_cpus=None)
    raise StudyError(f"Unknown executor {name!r}; valid executors: {', '.join(EXECUTORS)}.")
