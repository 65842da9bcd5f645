"""The adapter contract: every model, ours or a library's, is called the same way.

The base class does the cross-cutting work once: timing, input/output checks, parameter
validation, the trial's CPU share (``threads``) around every fit and predict, and clipping
predictions to the valid range (RUL >= 0). A subclass writes ``_fit`` and ``_predict`` only
(public method here, private hook there, as in autogluon/fev); it scores with
``study.data.scoring``, never by hand. Capabilities are data (``tags``), so the runner can skip
cleanly.
"""
from __future__ import annotations

import copy
import importlib.util
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from study.contract.threads import limited_threads
from study.core.errors import StudyError
from study.data.protocol import EngineSet

FORMULATIONS = ("regression", "embedding+head", "forecast-threshold")
#: The parameter an adapter may offer to lower its CPU share by hand (``Adapter.threads``). It is
#: never in a trial's resume key (it changes speed, not results: ``study.records.migration.key_params``).
THREADS = "threads"


@dataclass
class TrialContext:
    """What the runner lends an adapter for one trial: passed to the constructor
    (``cls(seed=..., context=..., **params)``) and kept as ``self.context``; the defaults when
    an adapter is built outside the runner. Public: plugins may rely on these fields
    (docs/adapter-helpers.md)."""

    artifacts_dir: Path | None = None  # a folder for the adapter's own files, or None
    progress: Callable[[str], None] = lambda message: None  # a short status line for the console
    time_budget_s: float | None = None  # the trial's time limit; past it the trial is failed
    threads: int | None = None  # CPU threads this trial may use (cores / parallel trials)
    # the tuner's rung monitor (study.contract.fidelity.RungMonitor) or None: an adapter with a natural
    # fidelity (epochs) calls ``monitor.after_step`` after each step and stops when told
    monitor: Any = None


class AdapterError(StudyError):
    """An adapter was misconfigured or returned something the contract forbids."""


class ParameterRangeError(AdapterError, ValueError):
    """A parameter value outside the adapter's ``param_ranges`` (also a ``ValueError``, as the
    libraries' own checks of those values were)."""


class AdapterUnavailable(StudyError):
    """The adapter cannot run here (no weights...); the trial becomes ``skipped``."""


class Adapter(ABC):
    """Base class of every model in the study.

    Subclasses set ``name``, ``tags`` and ``default_params``, and may set ``profiles``
    (parameter overrides per runner profile, e.g. ``{"smoke": {"n_estimators": 50}}``) and
    ``subset_params`` (overrides per C-MAPSS subset, e.g. ``{"FD001": {"history_factor": 3.0}}``,
    for a setting chosen on one subset's validation engines; trials of the other subsets keep
    their parameters, and so their resume keys).
    """

    name: ClassVar[str]
    #: Capability tags; ``DEFAULT_TAGS`` fills in those a subclass leaves out (``__init_subclass__``).
    tags: ClassVar[dict[str, Any]] = {}
    #: What a plain regressor with no optional library is: a subclass's ``tags`` need only say
    #: what differs (``library`` and ``family`` have no default and are always its own).
    DEFAULT_TAGS: ClassVar[dict[str, Any]] = {"formulation": "regression", "python_dependencies": [],
                                              "needs_weights": False, "seed_independent": False}
    default_params: ClassVar[dict[str, Any]] = {}
    #: Valid values of numeric parameters: name -> (low, high), inclusive, None = unbounded
    #: (e.g. ``{"n_estimators": (1, None)}``). Checked before any trial runs, so a negative
    #: tree count is refused instead of training zero trees and scoring them.
    param_ranges: ClassVar[dict[str, tuple[float | None, float | None]]] = {}
    profiles: ClassVar[dict[str, dict[str, Any]]] = {}
    subset_params: ClassVar[dict[str, dict[str, Any]]] = {}
    #: What the tuner (``python -m study.tune``) may change, and over which range: parameter
    #: name -> ``study.contract.search_space.Float``/``Int``/``Categorical``. Empty: tuned over nothing
    #: (the tuner evaluates the defaults once and says so).
    search_space: ClassVar[dict[str, Any]] = {}
    #: The parameter holding the library's own time limit (AutoML systems search inside one
    #: fit): the tuner sets it to each fit's share of the tuning budget. None: no such limit.
    budget_param: ClassVar[str | None] = None
    #: The parameter that counts training steps (``epochs`` for our networks) when the adapter
    #: reports to the tuner's rung monitor after each step (``TrialContext.monitor``): the
    #: tuner then stops poor configurations early (``study.contract.fidelity``). None: full evaluations.
    fidelity_param: ClassVar[str | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Merge ``DEFAULT_TAGS`` under the class's tags (its own or inherited), so a plugin
        does not repeat ``needs_weights: False`` and the like; each class gets its own copy."""
        super().__init_subclass__(**kwargs)
        cls.tags = copy.deepcopy({**Adapter.DEFAULT_TAGS, **cls.tags})

    def __init__(self, seed: int = 0, context: TrialContext | None = None, **params: Any):
        unknown = sorted(set(params) - set(self.default_params))
        if unknown:
            raise AdapterError(
                f"{self.name}: unknown parameter(s) {', '.join(unknown)}; valid: "
                f"{', '.join(sorted(self.default_params)) or '(none)'}."
            )
        self.seed = seed
        self.params: dict[str, Any] = {**self.default_params, **params}
        problems = self.param_problems(self.params)
        if problems:
            raise ParameterRangeError(f"{self.name}: " + "; ".join(problems) + ".")
        self.context = context if context is not None else TrialContext()
        self.info_: dict[str, Any] = {}

    @property
    def threads(self) -> int:
        """The CPU threads this trial may use: the runner's share (``context.threads``),
        lowered by a ``threads`` parameter where the adapter has one; 1 when neither says.
        The base class limits the thread pools to it around every fit and predict; an
        adapter passes it on to its library (``n_jobs``, ``num_cpus``...)."""
        given = [int(n) for n in (self.context.threads, self.params.get(THREADS)) if n]
        return max(1, min(given)) if given else 1

    # ----- class-level descriptions -------------------------------------------------
    @classmethod
    def test_params(cls) -> dict[str, Any]:
        """Tiny settings for the contract tests (seconds on synthetic data)."""
        return dict(cls.profiles.get("smoke", {}))

    @classmethod
    def check_params(cls, workdir: Path) -> dict[str, Any]:
        """Parameters for the check kit (``study.contract.check_kit``): ``test_params()``. An adapter
        that needs local test assets (Chronos: a tiny random model instead of pretrained
        weights) overrides this and builds them in ``workdir``; never used for a score."""
        return cls.test_params()

    @classmethod
    def params_for(cls, profile: str, subset: str | None = None) -> dict[str, Any]:
        """Parameters for a runner profile (and subset): defaults, then the subset's
        overrides, then the profile's (a smoke profile stays tiny on every subset)."""
        return {**cls.default_params, **cls.subset_params.get(subset or "", {}), **cls.profiles.get(profile, {})}

    @classmethod
    def param_problems(cls, params: dict[str, Any]) -> list[str]:
        """Each parameter value outside its ``param_ranges`` range, in words (None: the
        parameter's "automatic" value where its default is None, always accepted)."""
        problems = []
        for name, (low, high) in cls.param_ranges.items():
            if name not in params or (params[name] is None and cls.default_params.get(name) is None):
                continue
            value = params[name]
            bounds = (f">= {low:g}" if high is None else f"<= {high:g}" if low is None
                      else f"between {low:g} and {high:g}")
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
                problems.append(f"{name} must be a number {bounds}, got {value!r}")
            elif (low is not None and value < low) or (high is not None and value > high):
                problems.append(f"{name} must be {bounds}, got {value!r}")
        return problems

    @classmethod
    def unavailable_reason(cls) -> str | None:
        """Why this adapter cannot run here (a missing package), or None."""
        missing = [dep for dep in cls.tags.get("python_dependencies", []) if not _importable(dep.split("[")[0])]
        if missing:
            extra = cls.tags.get("install_extra")
            hint = cls.tags.get("install_hint") or (f"pip install -e '.[{extra}]'" if extra else
                                                   f"pip install {' '.join(missing)}")
            hint = f" ({hint})"
            return f"needs {', '.join(missing)}, not installed{hint}"
        return None

    # ----- the contract -------------------------------------------------------------
    def fit(self, train: EngineSet, valid: EngineSet | None = None) -> Adapter:
        """Learn from training engines; ``valid`` (engine-disjoint) is for selection only."""
        if train.rul is None or (valid is not None and valid.rul is None):
            raise AdapterError("fit needs labelled engine sets (train/valid)")
        start = time.perf_counter()
        with limited_threads(self.threads, torch=self._uses_torch()):
            self._fit(train, valid)
        self.fit_seconds_ = time.perf_counter() - start
        return self

    def predict(self, test: EngineSet) -> np.ndarray:
        """One RUL per test engine, shape (n_engines,), finite, clipped at 0 (a remaining
        life is never negative)."""
        if not hasattr(self, "fit_seconds_"):
            raise AdapterError(f"{self.name}: predict called before fit")
        start = time.perf_counter()
        with limited_threads(self.threads, torch=self._uses_torch()):
            pred = np.asarray(self._predict(test), dtype=float).reshape(-1)
        self.predict_seconds_ = time.perf_counter() - start
        if pred.shape != (len(test),):
            raise AdapterError(f"{self.name} returned {pred.shape[0]} predictions for {len(test)} engines")
        if not np.all(np.isfinite(pred)):
            raise AdapterError(f"{self.name} returned non-finite predictions")
        return np.clip(pred, 0.0, None)

    @classmethod
    def _uses_torch(cls) -> bool:
        """Whether the library runs on torch (``tags["python_dependencies"]``): its thread pool
        is then sized before the adapter imports it."""
        return "torch" in cls.tags.get("python_dependencies", ())

    def refit_params(self) -> dict[str, Any] | None:
        """After a fit that selected on the validation engines: the parameters to refit with
        on training + validation engines, given no validation set (the selected iteration or
        epoch count fixed, early stopping off). An adapter that selects nothing on validation
        may return ``dict(self.params)`` (the same model, more data). None (the default): it
        cannot be refit, and a trial with refit on keeps this fit and says so in its row."""
        return None

    @abstractmethod
    def _fit(self, train: EngineSet, valid: EngineSet | None) -> None: ...

    @abstractmethod
    def _predict(self, test: EngineSet) -> np.ndarray: ...


def _importable(module: str) -> bool:
    """Whether ``module`` can be found, without importing it (``find_spec`` of a submodule
    imports its parents and raises when a parent package is missing)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False
