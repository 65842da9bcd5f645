"""Errors a user can fix; the CLI prints them as one paragraph, without a traceback."""


class StudyError(Exception):
    """A problem with the user's data, options or environment (not a bug in the harness)."""


class DataError(StudyError):
    """C-MAPSS files are missing, corrupt, or not in C-MAPSS format."""


class ChecksumMismatch(DataError):
    """A file's SHA-256 differs from the pinned value."""
