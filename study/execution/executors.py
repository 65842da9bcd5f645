"""Executors run jobs and hand each one's result (a row) back to the driver, which alone writes.

A ``Job`` is the unit they run: an id, a kind (``trial``: ``run_trial`` on one prepared data
set), its payload (the ``TrialSpec``, which data, which artifacts folder) and the caller's own
``labels``, carried back untouched. The runner's trials and the tuner's fold fits are both jobs.

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
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

import numpy as np

from study.contract.registry import get_adapter
from study.core import environment
from study.core.errors import EnvironmentFault, StudyError
from study.data.protocol import PreparedSubset
from study.execution.trial import TrialSpec, run_trial
from study.records.rows import Field as F
from study.records.rows import TrialRow, trial_row, variant

Prepared = Mapping[str, tuple[PreparedSubset, np.ndarray]]
EXECUTORS = ("local", "inline", "ray")
#: What a job can be: its kind names the function that runs it (in whichever process).
JOB_KINDS = ("trial",)


@dataclass(frozen=True)
class Job:
    """One unit of work for an executor. ``id``: unique within one ``Executor.run`` (results
    come back under their job). ``spec``: the trial to run; ``data``: which entry of the
    prepared mapping it runs on; ``folder``: its artifacts folder under the run's root.
    ``labels``: the caller's own fields (the tuner's evaluation and fold), never read by the
    executor, so nothing has to be encoded into ``spec`` and parsed back."""

    id: str
    spec: TrialSpec
    data: str
    folder: str
    kind: str = "trial"
    labels: Mapping[str, Any] = field(default_factory=dict, hash=False, compare=False)

    def __post_init__(self) -> None:
        if self.kind not in JOB_KINDS:
            raise ValueError(f"Unknown job kind {self.kind!r}; known kinds: {', '.join(JOB_KINDS)}.")

    @property
    def time_limit_s(self) -> float | None:
        return self.spec.time_limit_s


OnResult = Callable[[Job, dict[str, Any]], None]
OnProgress = Callable[[Job, str], None]


def trial_job(spec: TrialSpec) -> Job:
    """A runner trial as a job: its key is its id, its subset its data, its folder by variant."""
    return Job(id=spec.key, spec=spec, data=spec.subset, folder=artifacts_name(spec))


def cpu_share(executor: str, workers: int) -> int:
    """The threads one job may use: the cores shared among the jobs that run at once (the
    local executor's workers); 1 on Ray, whose scheduler gives each task one CPU. Computed
    once per command (the runner's plan, the tuner) and carried in each ``TrialSpec``."""
    parallel = workers if executor == "local" else 1
    return 1 if executor == "ray" else max(1, environment.available_cores() // parallel)


def failed_row(spec: TrialSpec, prepared: PreparedSubset, reason: str, wall: float) -> TrialRow:
    """The row of a trial that never returned one (crash, kill, time limit)."""
    return trial_row(spec, prepared, get_adapter(spec.model).tags, "failed", reason, wall_seconds=wall)


def _check_ids(jobs: Sequence[Job]) -> None:
    """Results are handed back per job: two jobs with one id would be told apart by nothing."""
    ids = [job.id for job in jobs]
    if len(set(ids)) != len(ids):
        twice = sorted({i for i in ids if ids.count(i) > 1})
        raise ValueError(f"Job ids must be unique within one run; given twice: {', '.join(twice[:5])}.")


class Executor(ABC):
    """Runs jobs; calls ``on_result`` in the driver as each one finishes."""

    @abstractmethod
    def run(self, jobs: Sequence[Job], prepared: Prepared, max_rul: float, artifacts_root: Path,
            on_result: OnResult, on_progress: OnProgress) -> None: ...

    def close(self) -> None:
        """Release workers or cluster connections."""


def artifacts_name(spec: TrialSpec) -> str:
    """A trial's artifacts folder name; a variant other than the hand-tuned one (whose folders
    were named before variants existed) is in the name, so variants of a model never share one."""
    kind = variant({F.TUNING: spec.tuning, F.PROFILE: spec.profile})
    return (f"{spec.model}-{spec.subset}-seed{spec.seed}" if kind == "hand-tuned"
            else f"{spec.model}-{kind}-{spec.subset}-seed{spec.seed}")


def _artifacts(root: Path, job: Job) -> Path:
    return Path(root).absolute() / job.folder


def run_job(job: Job, data: PreparedSubset, truth: np.ndarray, max_rul: float, folder: Path,
            progress: Callable[[str], None]) -> dict[str, Any]:
    """Run one job in this process (its kind's function) and return its result."""
    if job.kind == "trial":
        return run_trial(job.spec, data, truth, max_rul, folder, progress=progress)
    raise ValueError(f"Unknown job kind {job.kind!r}.")


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
    """Jobs in the driver process, one after the other, each in its artifacts folder."""

    def run(self, jobs, prepared, max_rul, artifacts_root, on_result, on_progress):
        _check_ids(jobs)
        for job in jobs:
            data, truth = prepared[job.data]
            on_progress(job, "started")
            with trial_folder(_artifacts(artifacts_root, job)) as folder:
                row = run_job(job, data, truth, max_rul, folder, progress=lambda msg, job=job: on_progress(job, msg))
            on_result(job, row)


def _process_worker(conn: Connection, job: Job, data: PreparedSubset, truth: np.ndarray,
                    max_rul: float, artifacts: Path, sys_path: list[str], driver_pid: int | None = None) -> None:
    """A job in its own process group, which dies with the driver and within its time limit
    even when the driver is gone (``_watch``); its result goes back through ``conn``, under
    the job's id (the driver checks it is the job it started there)."""
    sys.path[:] = sys_path  # third-party adapters found via the driver's path
    _guard_worker(driver_pid, job.time_limit_s)

    def send(message: tuple[str, Any]) -> None:
        try:
            conn.send(message)
        except OSError:  # the driver is gone (BrokenPipeError): nobody to report to, stop quietly
            _kill_own_group()

    try:
        with trial_folder(artifacts) as folder:
            row = run_job(job, data, truth, max_rul, folder, progress=lambda msg: send(("progress", job.id, msg)))
        send(("row", job.id, row))
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
    """One worker process per job, at most ``workers`` at once, each with a hard time limit."""

    def __init__(self, workers: int = 1):
        if workers < 1:
            raise StudyError(f"--workers must be at least 1 (got {workers}).")
        self.workers = workers
        # forkserver: workers fork from a clean single-threaded server (safe with torch threads)
        method = "forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn"
        self.ctx = mp.get_context(method)

    def run(self, jobs, prepared, max_rul, artifacts_root, on_result, on_progress):
        _check_ids(jobs)
        queue = list(jobs)
        active: dict[Connection, tuple[Job, Any, float]] = {}
        self._active = active  # close() kills what is still running (Ctrl-C, SIGTERM, an error)
        while queue or active:
            while queue and len(active) < self.workers:
                job = queue.pop(0)
                data, truth = prepared[job.data]
                parent, child = self.ctx.Pipe(duplex=False)
                proc = self.ctx.Process(target=_process_worker, daemon=True, args=(
                    child, job, data, truth, max_rul, _artifacts(artifacts_root, job), list(sys.path),
                    os.getpid()))
                proc.start()
                child.close()
                active[parent] = (job, proc, time.monotonic())
                on_progress(job, "started")
            for conn in wait(list(active), timeout=0.5):
                job, proc, started = active[conn]
                try:
                    kind, job_id, payload = conn.recv()
                except EOFError:  # the worker died without a row
                    proc.join(5)
                    _kill_worker(proc)  # whatever it started dies with it
                    del active[conn]
                    elapsed = time.monotonic() - started
                    reason = (_limit_reason(job) if job.time_limit_s and elapsed > job.time_limit_s
                              else _death_reason(proc.exitcode))  # its own watchdog enforced the limit
                    on_result(job, failed_row(job.spec, prepared[job.data][0], reason, elapsed))
                    continue
                if job_id != job.id:  # a pipe crossed with another job's: never file a result under the wrong job
                    raise RuntimeError(f"worker of job {job.id!r} answered for job {job_id!r}")
                if kind == "progress":
                    on_progress(job, payload)
                else:
                    proc.join(30)
                    del active[conn]
                    on_result(job, payload)
            for conn, (job, proc, started) in list(active.items()):
                elapsed = time.monotonic() - started
                if job.time_limit_s and elapsed > job.time_limit_s:
                    _kill_worker(proc)
                    proc.join(5)
                    del active[conn]
                    on_result(job, failed_row(job.spec, prepared[job.data][0], _limit_reason(job), elapsed))

    def close(self) -> None:
        """Kill the workers still running (and what they started): none outlives the run."""
        for conn, (_, proc, _) in list(getattr(self, "_active", {}).items()):
            _kill_worker(proc)
            proc.join(5)
            conn.close()
        self._active = {}


def _limit_reason(job: Job) -> str:
    return f"killed after exceeding the per-trial time limit of {job.time_limit_s:g} s"


def _death_reason(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        import signal

        name = signal.Signals(-exitcode).name if -exitcode in signal.Signals._value2member_map_ else str(-exitcode)
        hint = " (out of memory?)" if name == "SIGKILL" else ""
        return f"worker process crashed: killed by {name}{hint}"
    return f"worker process exited with code {exitcode} without a result"


def _ray_job(job: Job, data: PreparedSubset, truth: np.ndarray, max_rul: float,
             artifacts_root: Path, sys_path: list[str]) -> dict[str, Any]:
    """A Ray task: the job runs in its own process inside the Ray worker, so a crash or the
    time limit is caught there exactly as with the local executor."""
    sys.path[:] = sys_path + [p for p in sys.path if p not in sys_path]
    rows: list[dict[str, Any]] = []
    ProcessExecutor(1).run([job], {job.data: (data, truth)}, max_rul, artifacts_root,
                           on_result=lambda _, row: rows.append(row), on_progress=lambda *_: None)
    return rows[0]


class RayExecutor(Executor):
    """Jobs as Ray tasks (one CPU each by default); rows come back to the driver as they finish."""

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

    def run(self, jobs, prepared, max_rul, artifacts_root, on_result, on_progress):
        _check_ids(jobs)
        ray = self.ray
        task = ray.remote(num_cpus=self.cpus_per_trial, max_retries=0)(_ray_job)
        used = {job.data for job in jobs}
        refs = {name: (ray.put(d), ray.put(t)) for name, (d, t) in prepared.items() if name in used}
        pending: dict[Any, tuple[Job, float]] = {}
        for job in jobs:
            data_ref, truth_ref = refs[job.data]
            ref = task.remote(job, data_ref, truth_ref, max_rul, artifacts_root, list(sys.path))
            pending[ref] = (job, time.monotonic())
            on_progress(job, "submitted")
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1, timeout=0.5)
            for ref in done:
                job, started = pending.pop(ref)
                try:
                    row = ray.get(ref)
                except Exception as exc:  # the Ray worker itself died: a failed row, not a crash
                    row = failed_row(job.spec, prepared[job.data][0],
                                     f"Ray task failed: {type(exc).__name__}: {str(exc)[:300]}", time.monotonic() - started)
                on_result(job, row)

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
