"""Finds adapters: every ``Adapter`` subclass in the ``adapters`` package (one file per
library, nothing to register by hand) plus third-party ones from the entry-point group
``cmapss_study.adapters``."""
from __future__ import annotations

import functools
import importlib
import inspect
import pkgutil
from importlib.metadata import entry_points

from study.adapter import Adapter, AdapterError

ENTRY_POINT_GROUP = "cmapss_study.adapters"


@functools.lru_cache(maxsize=1)
def _builtin() -> dict[str, type[Adapter]]:
    import adapters

    found: dict[str, type[Adapter]] = {}
    for module_info in pkgutil.iter_modules(adapters.__path__):
        if module_info.name.startswith("_"):
            continue  # private helpers (shared trainers, nets)
        module = importlib.import_module(f"adapters.{module_info.name}")
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if issubclass(obj, Adapter) and obj.__module__ == module.__name__ and not inspect.isabstract(obj):
                found[obj.name] = obj
    return found


def _from_entry_points() -> dict[str, type[Adapter]]:
    found: dict[str, type[Adapter]] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        cls = ep.load()
        if not (inspect.isclass(cls) and issubclass(cls, Adapter)):
            raise AdapterError(f"entry point {ep.name} = {ep.value} is not an Adapter subclass")
        found[cls.name] = cls
    return found


def all_adapters() -> dict[str, type[Adapter]]:
    """Name -> adapter class, built-ins first; an entry point may not shadow a built-in."""
    registry = dict(_builtin())  # a copy: the cached built-ins must not collect entry points
    for name, cls in _from_entry_points().items():
        registry.setdefault(name, cls)
    return dict(sorted(registry.items()))


def get_adapter(name: str) -> type[Adapter]:
    """Look up one adapter; an unknown name lists the valid ones."""
    registry = all_adapters()
    if name not in registry:
        raise AdapterError(f"Unknown model {name!r}; valid models: {', '.join(registry)}.")
    return registry[name]
