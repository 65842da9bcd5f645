"""The adapter contract as checks you can import (like scikit-learn's ``check_estimator``).

A plugin's own test file is two lines::

    from study.contract.check_kit import contract_tests
    test_contract = contract_tests("my_package.my_module:MyAdapter")   # or the class, or its name

and ``check_adapter(MyAdapter)`` runs every check at once (a notebook, a script). Each check
fits the adapter with its tiny ``check_params`` on synthetic C-MAPSS-format engines
(``study.data.synthetic``, FD001 format) and raises an ``AssertionError`` that names the rule it
broke. Fits are shared between the checks of one adapter: three fits in all (seed 0, seed 0
with another test RUL file, seed 1), a fourth only to tell which rule a failure broke.

The rules: tags and names are declared; profile and subset overrides name known
parameters; unknown parameters are refused; a missing optional library makes the adapter
*unavailable* (a skipped row with an install hint), not an import error; one finite
prediction per test engine; inputs are not mutated; the same seed gives the same
predictions; another test RUL file changes nothing (no leakage); another seed gives other
predictions (unless ``tags["seed_independent"]``); ``check_params`` fit in seconds.
An adapter that cannot run here (missing library or weights) makes its fitting checks skip.

``check_entry_point("my-model")`` checks the installed package instead: its entry point loads
(a misspelled module or class fails here, with the registry's reason), registers a concrete
adapter under that name and no other package claims it; ``contract_tests(...,
entry_point="my-model")`` adds it to the checks.
"""
from __future__ import annotations

import atexit
import functools
import importlib
import importlib.util
import inspect
import os
import shutil
import sys
import tempfile
import time
import unittest
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from study.contract.adapter import FORMULATIONS, Adapter, AdapterError, AdapterUnavailable
from study.contract.fidelity import process_cpu_seconds

REQUIRED_TAGS = ("library", "family", "formulation", "python_dependencies", "needs_weights")
#: Default limit on one fit + predict with ``check_params`` (the slowest built-in takes ~12 s on 2 cores).
DEFAULT_TIME_LIMIT_S = 60.0
_ATOL = 1e-6  # "the same predictions": equal to float noise


@dataclass(frozen=True)
class AdapterCheck:
    """One rule applied to one adapter; calling it runs the check."""

    adapter: type[Adapter]
    rule: str
    run: Callable[[], None]

    def __call__(self) -> None:
        self.run()

    @property
    def id(self) -> str:
        return f"{getattr(self.adapter, 'name', self.adapter.__name__)}-{self.rule}"

    def __repr__(self) -> str:
        return self.id


# ----- synthetic data ---------------------------------------------------------------------

@functools.lru_cache(maxsize=1)
def _workdir() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="study-checks-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


@functools.lru_cache(maxsize=1)
def synthetic_data() -> dict[str, tuple[Path, Any]]:
    """Two prepared synthetic FD001 subsets differing only in their test RUL file:
    ``{"original": (folder, prepared), "perturbed": (folder, prepared)}``."""
    from study.data.cmapss import load_subset
    from study.data.protocol import Protocol, prepare
    from study.data.synthetic import write_synthetic

    original = write_synthetic(_workdir() / "original", subsets=("FD001",))
    perturbed = _workdir() / "perturbed"
    shutil.copytree(original, perturbed)
    truth = np.loadtxt(perturbed / "RUL_FD001.txt")
    np.savetxt(perturbed / "RUL_FD001.txt", truth[::-1] * 3 + 7, fmt="%d")
    out = {}
    for label, folder in (("original", original), ("perturbed", perturbed)):
        prepared, _truth = prepare(load_subset(folder, "FD001", allow_unverified=True), Protocol())
        assert prepared.test.rul is None, "test engines must carry no labels"
        out[label] = (folder, prepared)
    return out


def _snapshot(prepared) -> list[np.ndarray]:
    arrays = []
    for split in (prepared.train, prepared.valid, prepared.test):
        arrays += [*split.sequences, *(split.rul or ())]
    return arrays


# ----- fitting, shared by one adapter's checks -------------------------------------------------

@dataclass
class _Fit:
    predictions: np.ndarray | None
    seconds: float
    error: BaseException | None
    mutated: list[str]
    cpu_seconds: float = 0.0  # CPU of this process and its finished children during the fit


class _Fitter:
    """Fits one adapter lazily, at most once per (seed, data set, attempt)."""

    def __init__(self, adapter: type[Adapter], params: dict[str, Any] | None):
        self.adapter, self.overrides, self._fits = adapter, params or {}, {}

    @functools.cached_property
    def params(self) -> dict[str, Any]:
        workdir = _workdir() / f"assets-{self.adapter.__name__}"
        workdir.mkdir(exist_ok=True)
        return {**self.adapter.check_params(workdir), **self.overrides}

    def skip_if_unavailable(self) -> None:
        reason = self.adapter.unavailable_reason()
        if reason:
            _skip(f"{self.adapter.name}: {reason}")

    def fit(self, seed: int, data: str = "original", attempt: int = 0) -> _Fit:
        key = (seed, data, attempt)
        if key not in self._fits:
            self.skip_if_unavailable()
            self._fits[key] = self._fit(seed, data)
        result = self._fits[key]
        if isinstance(result.error, AdapterUnavailable):
            _skip(f"{self.adapter.name}: {result.error}")
        return result

    def _fit(self, seed: int, data: str) -> _Fit:
        folder, prepared = synthetic_data()[data]
        before = [a.copy() for a in _snapshot(prepared)]
        start, cpu_start = time.perf_counter(), process_cpu_seconds()
        predictions, error = None, None
        # CMAPSS_DATA_DIR names this fit's folder: an adapter reading the files itself would
        # read the perturbed RUL file in the perturbed fit, and the leakage check would see it.
        with _environ(CMAPSS_DATA_DIR=str(folder)):
            try:
                model = self.adapter(seed=seed, **self.params)
                predictions = model.fit(prepared.train, prepared.valid).predict(prepared.test)
            except Exception as exc:  # reported by the check that needs this fit
                error = exc
        seconds, cpu_seconds = time.perf_counter() - start, process_cpu_seconds() - cpu_start
        mutated = []
        for index, (now, then) in enumerate(zip(_snapshot(prepared), before)):
            if now.shape != then.shape or not np.array_equal(now, then, equal_nan=True):
                mutated.append(f"array {index}")
                np.copyto(now, then)  # restore, so other checks see the true data
        return _Fit(predictions, seconds, error, mutated, cpu_seconds)

    def predictions(self, seed: int, data: str = "original", attempt: int = 0,
                    rule: str = "fit and predict") -> np.ndarray:
        result = self.fit(seed, data, attempt)
        if result.error is not None:
            raise AssertionError(f"{self.adapter.name}: rule '{rule}': fit/predict with seed {seed} raised "
                                 f"{type(result.error).__name__}: {result.error}") from result.error
        return result.predictions


@contextmanager
def _environ(**values: str) -> Iterator[None]:
    old = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in old.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _skip(message: str) -> None:
    """Skip the running check: pytest's skip under pytest, ``unittest.SkipTest`` otherwise."""
    pytest = sys.modules.get("pytest")
    if pytest is not None:
        pytest.skip(message)
    raise unittest.SkipTest(message)


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and np.allclose(a, b, rtol=0, atol=_ATOL)


# ----- the checks ---------------------------------------------------------------------------

def _check_name_and_tags(adapter: type[Adapter]) -> None:
    name = getattr(adapter, "name", None)
    assert isinstance(name, str) and name and name == name.strip() and " " not in name, \
        f"{adapter.__name__}: rule 'name': set a class attribute `name`, a non-empty string without spaces"
    missing = [tag for tag in REQUIRED_TAGS if tag not in adapter.tags]
    assert not missing, f"{name}: rule 'tags': tags lacks {', '.join(missing)} (required: {', '.join(REQUIRED_TAGS)})"
    assert adapter.tags["formulation"] in FORMULATIONS, \
        f"{name}: rule 'tags': formulation must be one of {FORMULATIONS}, got {adapter.tags['formulation']!r}"
    assert isinstance(adapter.tags["python_dependencies"], (list, tuple)), \
        f"{name}: rule 'tags': python_dependencies must be a list of module names"


def _check_overrides(adapter: type[Adapter]) -> None:
    known = set(adapter.default_params)
    for kind, table in (("profiles", adapter.profiles), ("subset_params", adapter.subset_params)):
        for key, overrides in table.items():
            unknown = sorted(set(overrides) - known)
            assert not unknown, (f"{adapter.name}: rule 'overrides name known parameters': {kind}[{key!r}] sets "
                                 f"{', '.join(unknown)}, not in default_params")


def _check_refuses_unknown_params(adapter: type[Adapter]) -> None:
    try:
        adapter(seed=0, no_such_parameter_for_the_check=1)
    except AdapterError as exc:
        assert "no_such_parameter_for_the_check" in str(exc), \
            f"{adapter.name}: rule 'unknown parameters refused': the error should name the parameter, got {exc}"
        return
    raise AssertionError(f"{adapter.name}: rule 'unknown parameters refused': an unknown parameter was accepted "
                         "(let Adapter.__init__ check parameters; a typo in --set must not pass silently)")


def _blocked_names(adapter: type[Adapter]) -> list[str]:
    return sorted({dep.split("[")[0].split(".")[0] for dep in adapter.tags.get("python_dependencies", [])})


class _Blocker:
    """A meta-path finder that makes the named top-level modules look uninstalled."""

    def __init__(self, names: list[str]):
        self.names = names

    def find_spec(self, fullname, path=None, target=None):
        if fullname.split(".")[0] in self.names:
            raise ModuleNotFoundError(f"No module named {fullname!r} (hidden by study.contract.check_kit)",
                                      name=fullname)
        return None


@contextmanager
def without_modules(names: list[str]) -> Iterator[None]:
    """Within the block, importing any of ``names`` (top-level packages) fails as if they
    were not installed; loaded copies are hidden and restored afterwards."""
    hidden = {mod: sys.modules.pop(mod) for mod in list(sys.modules) if mod.split(".")[0] in names}
    blocker = _Blocker(names)
    sys.meta_path.insert(0, blocker)
    try:
        yield
    finally:
        sys.meta_path.remove(blocker)
        for mod in [m for m in sys.modules if m.split(".")[0] in names]:
            del sys.modules[mod]
        sys.modules.update(hidden)


def _fresh_copy(adapter: type[Adapter]) -> type[Adapter]:
    """The adapter class from a fresh execution of its module's file (the class itself when
    it has no file of its own, e.g. one defined inside a function)."""
    module = sys.modules.get(adapter.__module__)
    path = getattr(module, "__file__", None)
    if path is None or "<locals>" in adapter.__qualname__:
        return adapter
    spec = importlib.util.spec_from_file_location(f"_study_check_{adapter.__module__.replace('.', '_')}", path)
    fresh = importlib.util.module_from_spec(spec)
    fresh.__package__ = module.__package__  # relative imports resolve as in the original
    spec.loader.exec_module(fresh)
    obj: Any = fresh
    for part in adapter.__qualname__.split("."):
        obj = getattr(obj, part)
    return obj


def _check_missing_dependency(adapter: type[Adapter]) -> None:
    """Import the adapter's module afresh with its declared libraries hidden: it must import
    (heavy imports belong inside ``_fit``/``_predict``) and say it is unavailable, with a hint."""
    blocked = _blocked_names(adapter)
    if not blocked:
        return  # nothing optional to miss
    rule = "missing library gives a skipped row"
    with without_modules(blocked):
        try:
            fresh = _fresh_copy(adapter)
        except ImportError as exc:
            raise AssertionError(
                f"{adapter.name}: rule '{rule}': importing {adapter.__module__} without {', '.join(blocked)} raised "
                f"{type(exc).__name__}: {exc}. Import these libraries inside _fit/_predict, so that a user "
                "without them sees a skipped row, not a broken registry.") from exc
        reason = fresh.unavailable_reason()
    assert reason, (f"{adapter.name}: rule '{rule}': with {', '.join(blocked)} missing, unavailable_reason() "
                    "returned None: list every library the adapter imports in tags['python_dependencies']")
    assert "install" in reason, (f"{adapter.name}: rule '{rule}': the reason {reason!r} gives no install hint "
                                 "(set tags['install_hint'], e.g. 'pip install my-plugin[extra]')")


def _check_predictions(fitter: _Fitter) -> None:
    pred = fitter.predictions(0, rule="one finite prediction per engine")
    n = len(synthetic_data()["original"][1].test)
    assert pred.shape == (n,), f"{fitter.adapter.name}: rule 'one prediction per engine': shape {pred.shape}, want ({n},)"
    assert np.all(np.isfinite(pred)), f"{fitter.adapter.name}: rule 'finite predictions': got {pred}"


def _check_inputs_not_mutated(fitter: _Fitter) -> None:
    fitter.predictions(0)
    mutated = fitter.fit(0).mutated
    assert not mutated, (f"{fitter.adapter.name}: rule 'inputs not mutated': fit/predict changed the engine sets "
                         f"({', '.join(mutated[:5])}); copy arrays before changing them in place")


def _deterministic(fitter: _Fitter) -> tuple[bool, float]:
    """Whether two seed-0 fits on the same inputs agree (the perturbed fit first: its inputs
    are the same arrays' values, only the test RUL file differs; a third fit decides)."""
    first, other = fitter.predictions(0), fitter.predictions(0, "perturbed")
    if _same(first, other):
        return True, 0.0
    again = fitter.predictions(0, attempt=1)
    return _same(first, again), float(np.max(np.abs(first - again)))


def _check_same_seed_same_predictions(fitter: _Fitter) -> None:
    same, gap = _deterministic(fitter)
    assert same, (f"{fitter.adapter.name}: rule 'same seed, same predictions': two fits with seed 0 on the same "
                  f"engines differ (by up to {gap:.3g}); seed every random source from self.seed")


def _check_no_leakage(fitter: _Fitter) -> None:
    first, other = fitter.predictions(0), fitter.predictions(0, "perturbed")
    if _same(first, other):
        return
    same, _gap = _deterministic(fitter)
    if not same:
        _skip("not deterministic: leakage cannot be told from noise (see the same-seed check)")
    raise AssertionError(f"{fitter.adapter.name}: rule 'no leakage': a different test RUL file (RUL_FD001.txt) "
                         f"changed the predictions by up to {np.max(np.abs(first - other)):.3g}; nothing derived "
                         "from the test truth may reach an adapter")


def _check_seeds_differ(fitter: _Fitter) -> None:
    if fitter.adapter.tags.get("seed_independent"):
        return
    first, second = fitter.predictions(0), fitter.predictions(1)
    if _same(first, second) and np.ptp(first) == 0:
        _skip(
            f"{fitter.adapter.name}: inconclusive: both seeds predict {first[0]:g} for every engine (the model "
            "learned nothing at check_params), so whether it uses the seed cannot be seen")
    assert not _same(first, second), (
        f"{fitter.adapter.name}: rule 'seeds differ': seeds 0 and 1 gave the same predictions; pass self.seed to "
        "the library (random_state=...), or, if the model has no randomness at all, set tags['seed_independent'] = True")


def _check_fast(fitter: _Fitter, limit: float) -> None:
    """One fit + predict within ``limit`` seconds of wall clock or, on a machine busy with other
    work (which stretches the wall clock, not the work), of CPU time."""
    fit = fitter.fit(0)
    seconds = min(fit.seconds, fit.cpu_seconds) if fit.cpu_seconds > 0 else fit.seconds
    assert seconds <= limit, (f"{fitter.adapter.name}: rule 'check_params are fast': one fit + predict took "
                              f"{seconds:.1f} s > {limit:g} s; make profiles['smoke'] (or check_params) tinier")


def check_entry_point(name: str, adapter: type[Adapter] | None = None) -> type[Adapter]:
    """The installed entry point ``name`` (group ``cmapss_study.adapters``) loads a concrete
    adapter registered under ``name`` (and is ``adapter``, if given), claimed by no other
    package; returns its class. Raises ``AssertionError`` with the registry's reason otherwise:
    a misspelled module or class in ``pyproject.toml``, an import error, a name mismatch."""
    from study.contract.registry import ENTRY_POINT_GROUP, duplicate_message, name_conflicts, registrations

    rule = f"{name}: rule 'entry point loads'"
    found = registrations()
    mine = [reg for reg in found if reg.entry_point == name]
    if not mine:
        installed = sorted(reg.entry_point for reg in found if reg.entry_point)
        raise AssertionError(
            f"{rule}: no entry point named {name!r} in the group {ENTRY_POINT_GROUP!r} is installed (installed: "
            f"{', '.join(installed) or 'none'}). Declare it in pyproject.toml under "
            f"[project.entry-points.\"{ENTRY_POINT_GROUP}\"] and reinstall the package (pip install -e .).")
    reg = mine[0]
    if not reg.loaded:
        raise AssertionError(f"{rule}: the entry point of {reg.source} {reg.error}."
                             f"{_target_hint(reg.target)} Fix the target in pyproject.toml and reinstall "
                             "(pip install -e .).")
    assert not reg.notes, f"{rule}: {'; '.join(reg.notes)}: give the entry point the class's `name`"
    conflicts = name_conflicts(found)
    assert reg.name not in conflicts, f"{rule}: {duplicate_message(reg.name, conflicts.get(reg.name, []))}"
    if adapter is not None:
        loaded, expected = (f"{cls.__module__}:{cls.__qualname__}" for cls in (reg.cls, adapter))
        assert loaded == expected, f"{rule}: the entry point loads {loaded}, not {expected}"
    return reg.cls


def _target_hint(target: str) -> str:
    """The adapter classes the target's module defines, when it imports but lacks the class."""
    module_name, _, qualname = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except Exception:  # the error already says why the module does not import
        return ""
    if not qualname or hasattr(module, qualname.split(".")[0]):
        return ""
    classes = sorted(n for n, obj in vars(module).items() if inspect.isclass(obj) and issubclass(obj, Adapter)
                     and obj.__module__ == module.__name__)
    return f" {module_name} has no {qualname!r}; its adapter classes: {', '.join(classes) or 'none'}."


def adapter_checks(adapter: type[Adapter], *, params: dict[str, Any] | None = None,
                   time_limit_s: float = DEFAULT_TIME_LIMIT_S, entry_point: str | None = None) -> list[AdapterCheck]:
    """Every contract check of ``adapter`` (nothing runs until a check is called).

    ``params`` override the adapter's ``check_params``; ``time_limit_s`` bounds one fit +
    predict on the synthetic engines; ``entry_point``: the name the installed package registers
    the adapter under, checked too (``check_entry_point``)."""
    fitter = _Fitter(adapter, params)
    rules: list[tuple[str, Callable[[], None]]] = [
        ("name_and_tags", lambda: _check_name_and_tags(adapter)),
        ("overrides_name_known_parameters", lambda: _check_overrides(adapter)),
        ("refuses_unknown_parameters", lambda: _check_refuses_unknown_params(adapter)),
        ("missing_library_gives_skipped_row", lambda: _check_missing_dependency(adapter)),
        ("one_finite_prediction_per_engine", lambda: _check_predictions(fitter)),
        ("inputs_not_mutated", lambda: _check_inputs_not_mutated(fitter)),
        ("same_seed_same_predictions", lambda: _check_same_seed_same_predictions(fitter)),
        ("test_rul_does_not_leak", lambda: _check_no_leakage(fitter)),
        ("seeds_differ", lambda: _check_seeds_differ(fitter)),
        ("check_params_are_fast", lambda: _check_fast(fitter, time_limit_s)),
    ]
    if entry_point is not None:
        rules.insert(0, ("entry_point_loads", lambda: check_entry_point(entry_point, adapter)))
    return [AdapterCheck(adapter, rule, run) for rule, run in rules]


def check_adapter(adapter: type[Adapter] | str, **settings: Any) -> None:
    """Run every contract check of ``adapter`` (a class, ``"module:Class"`` or a registered
    name); raises ``AssertionError`` naming the first broken rule, ``unittest.SkipTest`` if
    it cannot run here. ``settings``: see ``adapter_checks``."""
    for check in adapter_checks(resolve(adapter), **settings):
        check()


def resolve(adapter: type[Adapter] | str) -> type[Adapter]:
    """A class from a class, ``"package.module:Class"`` or a registered model name."""
    if not isinstance(adapter, str):
        return adapter
    if ":" in adapter:
        module, _, qualname = adapter.partition(":")
        obj: Any = importlib.import_module(module)
        for part in qualname.split("."):
            obj = getattr(obj, part)
        return obj
    from study.contract.registry import get_adapter

    return get_adapter(adapter)


def parametrize_with_checks(adapters: Iterable[type[Adapter] | str], **settings: Any):
    """A pytest decorator giving one test case per (adapter, rule), with ids like
    ``xgboost-seeds_differ``, in the style of scikit-learn's ``parametrize_with_checks``::

        @parametrize_with_checks([MyAdapter])
        def test_contract(check):
            check()
    """
    import pytest

    checks = [check for adapter in adapters for check in adapter_checks(resolve(adapter), **settings)]
    return pytest.mark.parametrize("check", checks, ids=[check.id for check in checks])


def contract_tests(*adapters: type[Adapter] | str, **settings: Any):
    """A ready test function over every check of ``adapters``: assign it to a ``test_``
    name in a test module (``test_contract = contract_tests("my_pkg.mod:MyAdapter")``)."""

    @parametrize_with_checks(adapters, **settings)
    def test_adapter_contract(check: AdapterCheck) -> None:
        check()

    return test_adapter_contract


__all__ = ["AdapterCheck", "adapter_checks", "check_adapter", "check_entry_point", "contract_tests", "parametrize_with_checks",
           "resolve", "synthetic_data", "without_modules"]
