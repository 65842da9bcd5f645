"""C-MAPSS RUL comparison study: the shared harness (data, protocol, scoring, runner, report)."""

__version__ = "0.1.0"
