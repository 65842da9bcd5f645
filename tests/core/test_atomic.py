"""Atomic writes (study/core/atomic.py): a file is replaced whole or left as it was."""
from __future__ import annotations

import errno

import pytest

from study.core import atomic
from study.core.errors import EnvironmentFault


def test_atomic_write_replaces_or_leaves_untouched(tmp_path, monkeypatch):
    path = tmp_path / "table.csv"
    atomic.write_text(path, "old\n")
    monkeypatch.setattr(atomic.os, "replace", lambda *a: (_ for _ in ()).throw(OSError(errno.EROFS, "Read-only")))
    with pytest.raises(EnvironmentFault, match="read-only"):
        atomic.write_text(path, "new\n")
    assert path.read_text() == "old\n" and [p.name for p in tmp_path.iterdir()] == ["table.csv"]
