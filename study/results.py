"""The append-only store of trial rows (JSON lines), and the key that makes reruns resume.

Each finished trial is one line, written with a single ``write`` on a file opened for
appending and flushed to disk, so a crash can at worst leave one torn last line; readers
skip a line that does not parse, and the next append starts on a fresh line.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

ROWS_FILE = "trials.jsonl"


def trial_key(model: str, params: dict[str, Any], subset: str, seed: int,
              protocol_hash: str, data_fingerprint: str) -> str:
    """Identity of a trial: same key, same experiment (so its result can be reused)."""
    return _digest([model, params, subset, seed, protocol_hash, data_fingerprint])


def config_key(model: str, params: dict[str, Any], subset: str, protocol_hash: str | None,
               data_fingerprint: str | None) -> str:
    """Identity of a trial's configuration: its key without the seed. The rows one
    leaderboard line averages share it (``params`` as hashed into the trial key)."""
    return _digest([model, params, subset, protocol_hash, data_fingerprint])


def _digest(parts: list[Any]) -> str:
    """A short stable hash of JSON-able parts (dict keys sorted)."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


class ResultStore:
    """Rows of one run folder; only the driver process writes here."""

    def __init__(self, folder: Path):
        self.path = Path(folder) / ROWS_FILE

    def rows(self) -> list[dict[str, Any]]:
        """All complete rows, in order; a torn line is ignored."""
        if not self.path.exists():
            return []
        rows = []
        for line in self.path.read_text().splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(row, dict) and "key" in row:
                rows.append(row)
        return rows

    def latest_by_key(self) -> dict[str, dict[str, Any]]:
        """The last row written for each trial key (a rerun with --force supersedes)."""
        return {row["key"]: row for row in self.rows()}

    def append(self, row: dict[str, Any]) -> dict[str, Any]:
        """Append one row durably; returns it as stored (plain JSON values)."""
        line = json.dumps(row, default=_jsonable) + "\n"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            if os.fstat(fd).st_size and not self._ends_with_newline():
                line = "\n" + line  # previous writer died mid-line: isolate its fragment
            os.write(fd, line.encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        return json.loads(line)

    def _ends_with_newline(self) -> bool:
        with open(self.path, "rb") as handle:
            handle.seek(-1, os.SEEK_END)
            return handle.read(1) == b"\n"


def _jsonable(value: Any) -> Any:
    """numpy values as lists/scalars; anything else (paths...) as text."""
    return value.tolist() if hasattr(value, "tolist") else str(value)
