"""Finds adapters, built-in and third-party, through one path that one bad plugin cannot break.

Every adapter is a *registration*: a name, where its class lives (``module:Class``) and its
source (a built-in module of the ``adapters`` package, or a package's entry point in the
group ``cmapss_study.adapters``). Built-ins are found by scanning ``adapters/`` (no
reinstall needed to add one); plugins by their entry points. Each is loaded with its
failure captured: a plugin whose module fails to import is listed (``--list-models``) as
unavailable with the exception and its package, and every other model still runs. A name
registered twice is an error naming both sources; an entry-point name that differs from the
class's ``name`` is reported (the class's ``name`` is the one rows record).
"""
from __future__ import annotations

import functools
import importlib
import inspect
import pkgutil
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points

from study.contract.adapter import Adapter, AdapterError

ENTRY_POINT_GROUP = "cmapss_study.adapters"


@dataclass(frozen=True)
class Registration:
    """One adapter as found: its ``name``, ``target`` (``module:Class``), ``source`` (for
    messages), and either its class or the ``error`` that kept it from loading."""

    name: str
    target: str
    source: str
    cls: type[Adapter] | None = None
    error: str | None = None
    notes: tuple[str, ...] = field(default=())
    entry_point: str | None = None  # the entry point's own name, for plugins

    @property
    def loaded(self) -> bool:
        return self.cls is not None


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:300]


@functools.lru_cache(maxsize=1)
def _builtin() -> tuple[Registration, ...]:
    """Every concrete ``Adapter`` subclass defined in a public module of ``adapters/``."""
    import adapters

    found: list[Registration] = []
    for module_info in sorted(pkgutil.iter_modules(adapters.__path__), key=lambda m: m.name):
        if module_info.name.startswith("_"):
            continue  # private helpers (shared trainers, nets)
        module_name = f"adapters.{module_info.name}"
        source = f"built-in module adapters/{module_info.name}.py"
        try:
            module = importlib.import_module(module_name)
        except Exception as exc:  # a broken built-in is listed, like a broken plugin
            found.append(Registration(module_info.name, module_name, source, error=_describe(exc)))
            continue
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if issubclass(obj, Adapter) and obj.__module__ == module_name and not inspect.isabstract(obj):
                found.append(Registration(obj.name, f"{module_name}:{obj.__qualname__}", source, cls=obj))
    return tuple(found)


def _entry_point_source(ep: EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    package = f"package {dist.name} {dist.version}" if dist is not None else "an unknown package"
    return f"{package} (entry point {ep.name} = {ep.value})"


def _from_entry_point(ep: EntryPoint) -> Registration:
    """Load one plugin, capturing any failure as the registration's ``error``."""
    source = _entry_point_source(ep)
    try:
        cls = ep.load()
    except Exception as exc:  # ImportError at the plugin's top, a typo in its entry point...
        return Registration(ep.name, ep.value, source, error=f"could not be loaded: {_describe(exc)}",
                            entry_point=ep.name)
    if not (inspect.isclass(cls) and issubclass(cls, Adapter)) or inspect.isabstract(cls):
        return Registration(ep.name, ep.value, source, error="is not a concrete Adapter subclass "
                            "(study.contract.adapter.Adapter)", entry_point=ep.name)
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name:
        return Registration(ep.name, ep.value, source, error="its class sets no `name`", entry_point=ep.name)
    notes = () if name == ep.name else (
        f"entry point name {ep.name!r} differs from the class's name {name!r}; registered as {name!r}",)
    return Registration(name, ep.value, source, cls=cls, notes=notes, entry_point=ep.name)


def registrations() -> list[Registration]:
    """Everything found, loadable or not, built-ins first (never raises for a bad plugin)."""
    found = list(_builtin())
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        found.append(_from_entry_point(ep))
    return found


def name_conflicts(found: list[Registration]) -> dict[str, list[Registration]]:
    """Names claimed by two different classes (the same class found twice is one adapter)."""
    by_name: dict[str, list[Registration]] = {}
    for reg in found:
        if reg.loaded and all(other.cls is not reg.cls for other in by_name.get(reg.name, [])):
            by_name.setdefault(reg.name, []).append(reg)
    return {name: regs for name, regs in by_name.items() if len(regs) > 1}


def duplicate_message(name: str, regs: list[Registration]) -> str:
    return (f"Model name {name!r} is registered twice: by {regs[0].source} and by {regs[1].source}. "
            f"Rename one adapter (its class's `name` and its entry point), or uninstall one package.")


def all_adapters() -> dict[str, type[Adapter]]:
    """Name -> class of every loadable adapter, sorted by name. Plugins that failed to load
    are left out (see ``registrations``); a name claimed twice raises ``AdapterError``."""
    found = registrations()
    conflicts = name_conflicts(found)
    if conflicts:
        name, regs = next(iter(conflicts.items()))
        raise AdapterError(duplicate_message(name, regs))
    return dict(sorted((reg.name, reg.cls) for reg in found if reg.loaded))


def get_adapter(name: str) -> type[Adapter]:
    """Look up one adapter; an unknown, unloadable or doubly registered name says why."""
    found = registrations()
    matches = [reg for reg in found if reg.name == name]
    conflicts = name_conflicts(matches)
    if conflicts:
        raise AdapterError(duplicate_message(name, conflicts[name]))
    for reg in matches:
        if reg.loaded:
            return reg.cls
    if matches:
        reg = matches[0]
        raise AdapterError(f"Model {name!r} ({reg.target}, from {reg.source}) {reg.error}")
    valid = sorted({reg.name for reg in found if reg.loaded})
    renamed = [reg for reg in found if reg.loaded and reg.entry_point == name]
    hint = f" Its entry point registers the class named {renamed[0].name!r} ({renamed[0].source})." if renamed else ""
    raise AdapterError(f"Unknown model {name!r}; valid models: {', '.join(valid)}.{hint}")
