"""Whole-file writes that never leave a half-written file: a temporary file beside the
target, flushed to disk, then renamed over it (``os.replace`` is atomic on POSIX).

A reader sees either the old file or the new one; a crash or a full disk leaves the old
one in place and no temporary behind. Append-only JSON-lines files (trial rows, shared arrays)
are read line by line (``json_lines``) and their torn last line cut (``cut_torn_tail``).
"""
from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from study.core.errors import environment_fault


def write_bytes(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically; an ``OSError`` becomes an ``EnvironmentFault``."""
    path = Path(path)
    tmp: str | None = None
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:  # named by the file being replaced, not by its temporary
        named = OSError(exc.errno, exc.strerror, str(path))
        raise environment_fault(named, "write", f"{path.name} is unchanged; rerun the same command once "
                                "the problem is fixed (finished trials are reused).") from exc
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass


def cut_torn_tail(path: Path, complete: Callable[[bytes], bool]) -> tuple[int, int] | None:
    """Repair an append-only file of lines whose writer died mid-line (SIGKILL, a full disk):
    a last line without its newline is cut off, unless ``complete(line)`` says it is whole,
    which then only gets its newline. Returns (line number, bytes) of what was cut, or None.
    Call it with the file's folder locked: a writer appending meanwhile would lose a line."""
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise environment_fault(exc, "read") from exc
    if not data or data.endswith(b"\n"):
        return None
    cut = data.rfind(b"\n") + 1
    tail = data[cut:]
    try:
        if complete(tail):
            with open(path, "ab") as handle:
                handle.write(b"\n")
            return None
        with open(path, "r+b") as handle:
            handle.truncate(cut)
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as exc:
        raise environment_fault(exc, "repair the torn last line of") from exc
    return data.count(b"\n") + 1, len(tail)


def write_text(path: Path, text: str) -> None:
    """Replace ``path`` with UTF-8 ``text`` atomically."""
    write_bytes(path, text.encode("utf-8"))


def write_csv(path: Path, frame: pd.DataFrame, **to_csv_kwargs) -> None:
    """Write a table as CSV atomically (rendered in memory first: tables here are small)."""
    write_text(path, frame.to_csv(**to_csv_kwargs))


def json_lines(data: bytes) -> Iterator[tuple[int, Any, str | None]]:
    """Each non-blank line of a JSON-lines file: (line number, its value, None), or (line
    number, None, why it is not one: not UTF-8, not JSON, or a last line a run stopped
    while writing)."""
    lines = data.split(b"\n")
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            yield number, json.loads(raw.decode("utf-8")), None
        except UnicodeDecodeError:
            yield number, None, "not valid UTF-8"
        except ValueError:
            torn = number == len(lines) and not data.endswith(b"\n")
            yield number, None, "incomplete (a run stopped while writing it)" if torn else "not valid JSON"
