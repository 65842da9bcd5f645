"""The contract every registered adapter must honour, through the importable check kit
(``study.contract.check_kit``, one source of truth for the repo and for plugins), and the kit's own
checks: each rule fails, naming itself, on an adapter that breaks it."""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from study.contract.adapter import Adapter
from study.contract.check_kit import adapter_checks, check_adapter, check_entry_point, parametrize_with_checks
from study.contract.registry import all_adapters

FAKE_PLUGIN = Path(__file__).parents[1] / "fake_plugin"
MISSPELLED_PLUGIN = Path(__file__).parents[1] / "plugins" / "misspelled"


@pytest.mark.slow
@parametrize_with_checks(all_adapters().values())
def test_adapter_honours_the_contract(check):
    check()


# ----- the kit fails each rule on an adapter that breaks it ------------------------------------

class GoodAdapter(Adapter):
    """Last-cycle ridge regression plus a seeded jitter: honours every rule, in milliseconds."""

    name = "kit-good"
    tags = {"library": "numpy", "family": "linear", "formulation": "regression", "python_dependencies": [],
            "needs_weights": False}
    default_params = {"ridge": 1.0}

    def _fit(self, train, valid):
        x, y, _ = train.windows()
        last = x[:, -1, :]
        self.coef_ = np.linalg.solve(last.T @ last + self.params["ridge"] * np.eye(last.shape[1]), last.T @ (y - y.mean()))
        self.bias_ = float(y.mean()) + np.random.default_rng(self.seed).normal(0, 0.1)

    def _predict(self, test):
        return test.last_windows()[:, -1, :] @ self.coef_ + self.bias_


class Unseeded(GoodAdapter):
    name = "kit-unseeded"

    def _predict(self, test):
        return super()._predict(test) + np.random.default_rng().normal(0, 1, len(test))


class Leaky(GoodAdapter):
    """Reads the test truth from the data folder itself."""

    name = "kit-leaky"

    def _predict(self, test):
        truth = np.loadtxt(Path(os.environ["CMAPSS_DATA_DIR"]) / "RUL_FD001.txt")
        return super()._predict(test) + truth.mean()


class IgnoresSeed(GoodAdapter):
    name = "kit-ignores-seed"

    def _fit(self, train, valid):
        super()._fit(train, valid)
        self.bias_ = 50.0


class Mutates(GoodAdapter):
    name = "kit-mutates"

    def _fit(self, train, valid):
        train.sequences[0][:] = 0.0
        super()._fit(train, valid)


class WrongLength(GoodAdapter):
    name = "kit-wrong-length"

    def _predict(self, test):
        return super()._predict(test)[:-1]


class SwallowsParams(GoodAdapter):
    name = "kit-swallows-params"

    def __init__(self, seed=0, **params):
        super().__init__(seed, **{k: v for k, v in params.items() if k in self.default_params})


class ImportsAtTop(GoodAdapter):
    """Declares a library it imports at module import time (here: this test module's numpy)."""

    name = "kit-imports-at-top"
    tags = {**GoodAdapter.tags, "python_dependencies": ["numpy"]}


class Slow(GoodAdapter):
    name = "kit-slow"

    def _fit(self, train, valid):
        end = time.process_time() + 0.3  # work, not waiting: 0.3 s of CPU
        while time.process_time() < end:
            sum(range(1000))
        super()._fit(train, valid)


class Waits(GoodAdapter):
    """Takes wall-clock time without work, as any fit does on a machine busy with other work."""

    name = "kit-waits"

    def _fit(self, train, valid):
        time.sleep(0.3)
        super()._fit(train, valid)


class NoTags(GoodAdapter):
    name = "kit-no-tags"
    tags = {"library": "numpy"}


def test_a_correct_adapter_passes_every_check():
    check_adapter(GoodAdapter)


@pytest.mark.parametrize("adapter, rule, message", [
    (Unseeded, "same_seed_same_predictions", "rule 'same seed, same predictions'"),
    (Leaky, "test_rul_does_not_leak", "rule 'no leakage'"),
    (IgnoresSeed, "seeds_differ", "rule 'seeds differ'"),
    (Mutates, "inputs_not_mutated", "rule 'inputs not mutated'"),
    (WrongLength, "one_finite_prediction_per_engine", "rule 'one finite prediction per engine'.*returned 7 predictions for 8 engines"),
    (SwallowsParams, "refuses_unknown_parameters", "rule 'unknown parameters refused'"),
    (ImportsAtTop, "missing_library_gives_skipped_row", "rule 'missing library gives a skipped row'"),
    (NoTags, "name_and_tags", "rule 'tags'"),
])
def test_each_rule_fails_naming_itself(adapter, rule, message):
    check = next(check for check in adapter_checks(adapter) if check.rule == rule)
    with pytest.raises(AssertionError, match=message):
        check()
    with pytest.raises(AssertionError):
        check_adapter(adapter)


def test_the_time_limit_is_a_setting():
    check = next(check for check in adapter_checks(Slow, time_limit_s=0.1) if check.rule == "check_params_are_fast")
    with pytest.raises(AssertionError, match="rule 'check_params are fast'"):
        check()
    # a fit that only waits (as on a busy machine) is not slow: its CPU time is within the limit
    next(check for check in adapter_checks(Waits, time_limit_s=0.1) if check.rule == "check_params_are_fast")()


def test_a_seed_independent_adapter_declares_it():
    class Declared(IgnoresSeed):
        name = "kit-declared"
        tags = {**IgnoresSeed.tags, "seed_independent": True}

    check_adapter(Declared)


# ----- the installed entry point ----------------------------------------------------------------

@pytest.fixture
def installed(monkeypatch):
    """Put a fake package on sys.path, as pip install would; its module is forgotten after."""
    modules = []

    def install(folder: Path) -> None:
        monkeypatch.syspath_prepend(str(folder))
        modules.extend(path.stem for path in folder.glob("*.py"))

    yield install
    for module in modules:
        sys.modules.pop(module, None)


def test_the_installed_entry_point_is_checked_by_name(installed):
    installed(FAKE_PLUGIN)
    cls = check_entry_point("test-constant")
    assert f"{cls.__module__}:{cls.__name__}" == "fake_study_plugin:ConstantAdapter"
    check = adapter_checks(cls, entry_point="test-constant")[0]
    assert check.id == "test-constant-entry_point_loads"
    check()
    with pytest.raises(AssertionError, match="loads fake_study_plugin:ConstantAdapter, not .*GoodAdapter"):
        check_entry_point("test-constant", GoodAdapter)
    with pytest.raises(AssertionError, match="no entry point named 'test-nope' .* installed.*test-constant"):
        check_entry_point("test-nope")


def test_a_misspelled_class_in_the_entry_point_fails_with_the_registrys_reason(installed):
    installed(MISSPELLED_PLUGIN)
    with pytest.raises(AssertionError) as info:
        check_entry_point("test-misspelled")
    message = str(info.value)
    assert "rule 'entry point loads'" in message and "misspelled_study_plugin:MispeledAdapter" in message
    assert "package misspelled-study-plugin 0.1" in message and "AttributeError" in message
    assert "its adapter classes: MisspelledAdapter" in message and "pyproject.toml" in message
