"""Errors a user can fix; the CLI prints them as one paragraph, without a traceback.

Exit status: 2 for bad input (options, data, a corrupt run folder), 1 for a problem of the
environment (permissions, a full disk, a busy run folder, an unreachable service), 3 when a
study ran and every trial failed.
"""
from __future__ import annotations

import errno


class StudyError(Exception):
    """A problem with the user's data, options or environment (not a bug in the harness)."""

    exit_code = 2


class DataError(StudyError):
    """C-MAPSS files are missing, corrupt, or not in C-MAPSS format."""


class ChecksumMismatch(DataError):
    """A file's SHA-256 differs from the pinned value."""


class EnvironmentFault(StudyError):
    """The machine, not the input, is in the way: permissions, a full disk, a run folder
    another process is writing, a tracking server that cannot be used."""

    exit_code = 1


class AllTrialsFailed(StudyError):
    """A study ran, but none of its trials succeeded and some failed: its outputs are written,
    yet a script or CI job must not read "nothing worked" as success."""

    exit_code = 3


_HINTS = {
    errno.ENOSPC: "the disk is full: free some space",
    errno.EDQUOT: "the disk quota is exceeded: free some space",
    errno.EACCES: "permission denied: check the owner and mode of the file or folder",
    errno.EPERM: "operation not permitted: check the owner and mode of the file or folder",
    errno.EROFS: "the file system is read-only",
    errno.ENOENT: "no such file or folder",
    errno.EISDIR: "a folder is in the way where a file was expected",
    errno.ENOTDIR: "a file is in the way where a folder was expected",
}


def os_error_message(exc: OSError, doing: str) -> str:
    """One sentence for an ``OSError``: what we were doing, on which path, why, and the way out."""
    where = f" {exc.filename}" if exc.filename else ""
    reason = _HINTS.get(exc.errno or -1) or exc.strerror or str(exc)
    return f"Could not {doing}{where}: {reason} ({exc.strerror or type(exc).__name__})."


def environment_fault(exc: OSError, doing: str, then: str = "") -> EnvironmentFault:
    """An ``OSError`` as the user-facing error (exit 1); ``then`` says how to carry on."""
    return EnvironmentFault(os_error_message(exc, doing) + (f" {then}" if then else ""))
