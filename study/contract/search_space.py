"""Search spaces: what an adapter lets the tuner change, declared as data.

An adapter's ``search_space`` maps parameter names to one of three small types. They say
nothing about Optuna, so an adapter module needs no tuner import; ``suggest`` turns a
space into an Optuna trial's suggestions. An empty space means "tuned over nothing": the
tuner then evaluates the adapter's defaults once and says so.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Union

from study.core.errors import StudyError


@dataclass(frozen=True)
class Float:
    """A real number in [low, high]; ``log`` samples its logarithm uniformly."""

    low: float
    high: float
    log: bool = False

    def __post_init__(self) -> None:
        if not self.low < self.high or (self.log and self.low <= 0):
            raise ValueError(f"bad Float range [{self.low}, {self.high}] (log={self.log})")

    def contains(self, value: Any) -> bool:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and self.low <= value <= self.high


@dataclass(frozen=True)
class Int:
    """An integer in [low, high]; ``log`` samples its logarithm uniformly."""

    low: int
    high: int
    log: bool = False

    def __post_init__(self) -> None:
        if not self.low < self.high or (self.log and self.low <= 0):
            raise ValueError(f"bad Int range [{self.low}, {self.high}] (log={self.log})")

    def contains(self, value: Any) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and self.low <= value <= self.high


@dataclass(frozen=True)
class Categorical:
    """One of a few choices (numbers, strings, None, or JSON-able lists and dicts)."""

    choices: tuple[Any, ...]

    def __post_init__(self) -> None:
        if len(self.choices) < 2:
            raise ValueError("a Categorical needs at least two choices")

    def contains(self, value: Any) -> bool:
        return any(_same(value, choice) for choice in self.choices)


Dimension = Union[Float, Int, Categorical]
SearchSpace = dict[str, Dimension]


def _same(a: Any, b: Any) -> bool:
    """Equal as parameters: 1 and 1.0 alike, lists and tuples alike."""
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, float) or isinstance(b, float):
        return isinstance(a, (int, float)) and isinstance(b, (int, float)) and math.isclose(a, b)
    return a == b


def check_space(space: SearchSpace, params: dict[str, Any], owner: str) -> None:
    """Every name in ``space`` is a parameter of ``params`` (the adapter's defaults)."""
    unknown = sorted(set(space) - set(params))
    if unknown:
        raise StudyError(f"{owner}: the search space names unknown parameter(s) {', '.join(unknown)}; "
                         f"valid: {', '.join(sorted(params))}.")


def _choice_label(choice: Any) -> str | int | float | bool | None:
    """Optuna stores categorical choices that are plain scalars; others go by a label."""
    import json

    if choice is None or isinstance(choice, (str, int, float, bool)):
        return choice
    return json.dumps(choice, sort_keys=True)


def suggest(trial: Any, space: SearchSpace) -> dict[str, Any]:
    """Parameters for one Optuna trial drawn from ``space`` (names sorted: a fixed order)."""
    params: dict[str, Any] = {}
    for name in sorted(space):
        dim = space[name]
        if isinstance(dim, Float):
            params[name] = trial.suggest_float(name, dim.low, dim.high, log=dim.log)
        elif isinstance(dim, Int):
            params[name] = trial.suggest_int(name, dim.low, dim.high, log=dim.log)
        else:
            labels = [_choice_label(c) for c in dim.choices]
            picked = trial.suggest_categorical(name, labels)
            params[name] = dim.choices[labels.index(picked)]
    return params


def decode(space: SearchSpace, optuna_params: dict[str, Any]) -> dict[str, Any]:
    """Adapter parameters from the values Optuna stored (categorical labels back to choices)."""
    params = {}
    for name, value in optuna_params.items():
        dim = space.get(name)
        if isinstance(dim, Categorical):
            labels = [_choice_label(c) for c in dim.choices]
            value = dim.choices[labels.index(value)]
        params[name] = value
    return params


def describe(space: SearchSpace) -> dict[str, str]:
    """Human-readable ranges (README, tuning output)."""
    out = {}
    for name in sorted(space):
        dim = space[name]
        if isinstance(dim, Categorical):
            out[name] = "one of " + ", ".join(str(c) for c in dim.choices)
        else:
            out[name] = f"{dim.low} to {dim.high}" + (" (log)" if dim.log else "")
    return out
