"""One writer per run folder: an exclusive ``flock`` on ``RUN/.lock`` for as long as a
command writes there.

A second writer is refused at once (never made to wait: a study can run for hours) with
the holder's pid, host, command and start time, read from the lock file. The kernel drops
the lock when its holder exits, however it exits (even SIGKILL), so a lock is never stale;
a lock file left by a killed holder is simply taken over by the next writer, and a writer
that finishes removes it.
A command takes it once (``study.execution.runner.open_run`` for ``python -m study.run``) and
hands the held lock on; it is not re-entrant, so a second taker in the same process is a bug
and refused like any other writer. ``flock`` is advisory and local: it does not protect a
folder shared over NFS by several machines.
"""
from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from study.core.errors import EnvironmentFault, environment_fault

LOCK_FILE = ".lock"
_held: set[Path] = set()  # folders this process holds: a second taker here is refused, not nested


@dataclass(frozen=True)
class FolderLock:
    """A held run-folder lock, handed to whoever writes under it: they can check it is still
    held instead of taking it again."""

    folder: Path

    @property
    def held(self) -> bool:
        return self.folder in _held


def holder_description(folder: Path) -> str:
    """Who holds (or last held) the lock of a run folder, in words."""
    try:
        info = json.loads((Path(folder) / LOCK_FILE).read_text(encoding="utf-8"))
        return (f"pid {info.get('pid')} on {info.get('host')}, started {info.get('started_at')}: "
                f"{info.get('command')}")
    except (OSError, ValueError, AttributeError):
        return "a process whose details could not be read"


@contextmanager
def run_folder_lock(folder: Path, command: str | None = None) -> Iterator[FolderLock]:
    """Hold the run folder's write lock, or raise ``EnvironmentFault`` naming its holder (this
    process too: the lock is taken once per command and passed on, never nested)."""
    folder = Path(folder).resolve()
    if folder in _held:
        raise EnvironmentFault(f"{folder} is already locked by this process: a command takes the run folder's "
                               "lock once and hands it on (a second taker here would be a second writer).")
    path = folder / LOCK_FILE
    fd = _acquire(path, folder)
    try:
        info = {"pid": os.getpid(), "host": socket.gethostname(),
                "command": command or " ".join(getattr(sys, "orig_argv", None) or [sys.executable, *sys.argv]),
                "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(info) + "\n").encode(), 0)
    except OSError:
        pass  # the lock holds without its description (a full disk is reported by the writes)
    _held.add(folder)
    try:
        yield FolderLock(folder)
    finally:
        _held.discard(folder)
        try:
            os.unlink(path)  # removed while still locked, so no run folder keeps a stray lock file
        except OSError:
            pass
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _acquire(path: Path, folder: Path) -> int:
    """Open and lock ``path``; retried if a releasing holder removed the file meanwhile (the
    lock must be on the file that is in the folder now, not on an unlinked one)."""
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise environment_fault(exc, "create the run folder's lock file", "Choose another --out.") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise EnvironmentFault(
                f"{folder} is in use by another run ({holder_description(folder)}). Two writers on one "
                "run folder would run trials twice and overwrite each other's tables, so this command "
                "is refused rather than made to wait: wait for that run to finish (or stop it; its "
                "finished trials are kept), or choose another --out.") from None
        except OSError as exc:
            os.close(fd)
            raise environment_fault(exc, "lock the run folder", "Choose another --out.") from exc
        try:
            if os.stat(path).st_ino == os.fstat(fd).st_ino:
                return fd
        except FileNotFoundError:
            pass
        os.close(fd)
