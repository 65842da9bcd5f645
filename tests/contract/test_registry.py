"""Adapter discovery: built-ins by module, third parties by entry point, one bad plugin
breaking nothing else."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from study.contract.adapter import Adapter, AdapterError
from study.contract.registry import all_adapters, get_adapter, registrations
from study.records.store import ResultStore

ROOT = Path(__file__).resolve().parents[2]
PLUGIN_DIR = Path(__file__).parents[1] / "fake_plugin"
BAD_PLUGINS = Path(__file__).parents[1] / "plugins"  # broken/, duplicate/, renamed/: one fake package each


@pytest.fixture
def bad_plugin(monkeypatch):
    """Put one of the fake packages of tests/plugins/ on sys.path (as if pip-installed)."""
    added = []

    def install(kind: str) -> None:
        monkeypatch.syspath_prepend(str(BAD_PLUGINS / kind))
        added.append(f"{kind}_study_plugin")

    yield install
    for module in added:
        sys.modules.pop(module, None)


def _list_models(*plugin_dirs: Path) -> subprocess.CompletedProcess:
    path = os.pathsep.join([*(str(d) for d in plugin_dirs), str(ROOT)])
    return subprocess.run([sys.executable, "-m", "study.run", "--list-models"], cwd=ROOT, capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": path, "COLUMNS": "300"}, timeout=120)


@pytest.fixture
def plugin_on_path(monkeypatch):
    monkeypatch.syspath_prepend(str(PLUGIN_DIR))
    yield
    sys.modules.pop("fake_study_plugin", None)


def test_builtin_adapters_are_found_without_registration():
    assert "xgboost" in all_adapters()


def test_unknown_adapter_name_lists_valid_names():
    with pytest.raises(AdapterError) as info:
        get_adapter("no-such-model")
    assert "xgboost" in str(info.value)


def test_entry_point_adapter_from_another_package_is_registered(plugin_on_path):
    cls = get_adapter("test-constant")
    assert issubclass(cls, Adapter) and cls.__module__ == "fake_study_plugin"


def test_unknown_parameter_lists_valid_parameters():
    with pytest.raises(AdapterError, match="max_depth"):
        get_adapter("xgboost")(depth=3)


def test_every_adapter_is_registered_under_its_own_name():
    for name, cls in all_adapters().items():
        assert cls.name == name


def test_a_plugin_that_fails_to_import_is_listed_with_its_error_and_the_others_still_load(bad_plugin):
    bad_plugin("broken")
    broken = [reg for reg in registrations() if reg.name == "broken-model"]
    assert len(broken) == 1 and not broken[0].loaded
    assert "ModuleNotFoundError" in broken[0].error and "a_library_that_is_not_installed" in broken[0].error
    assert "broken-study-plugin" in broken[0].source
    assert "xgboost" in all_adapters() and "broken-model" not in all_adapters()
    with pytest.raises(AdapterError, match="broken-study-plugin.*could not be loaded.*ModuleNotFoundError"):
        get_adapter("broken-model")


@pytest.mark.slow
def test_list_models_exits_0_and_shows_a_broken_plugin_as_unavailable():
    result = _list_models(BAD_PLUGINS / "broken", PLUGIN_DIR)
    assert result.returncode == 0, result.stderr
    line = next(line for line in result.stdout.splitlines() if "broken-model" in line)
    assert "no: could not be loaded: ModuleNotFoundError" in line and "broken-study-plugin 0.1" in line
    assert "xgboost" in result.stdout


def test_list_models_prints_the_install_hint_with_its_extra(plugin_on_path, monkeypatch):
    """rich markup once swallowed "[torch]" from "pip install -e '.[torch]'"."""
    import io

    from rich.console import Console

    from study.run import list_models

    cls = get_adapter("test-needs-missing-package")
    monkeypatch.setitem(cls.tags, "install_extra", "some-extra")
    out = io.StringIO()
    list_models(Console(file=out, width=400))
    line = next(line for line in out.getvalue().splitlines() if "test-needs-missing-package" in line)
    assert "pip install -e '.[some-extra]'" in line


def test_a_duplicate_name_is_an_error_naming_both_sources(bad_plugin):
    bad_plugin("duplicate")
    message = "registered twice: by built-in module adapters/xgboost.py and by package duplicate-study-plugin"
    with pytest.raises(AdapterError, match=message):
        get_adapter("xgboost")
    with pytest.raises(AdapterError, match=message):
        all_adapters()
    assert get_adapter("lstm").name == "lstm"  # other models still run with --models


def test_an_entry_point_name_differing_from_the_class_name_is_reported(bad_plugin):
    bad_plugin("renamed")
    reg = next(reg for reg in registrations() if reg.entry_point == "entry-name")
    assert reg.name == "class-name" and "differs from the class's name 'class-name'" in reg.notes[0]
    assert get_adapter("class-name").__name__ == "RenamedAdapter"
    with pytest.raises(AdapterError, match="Its entry point registers the class named 'class-name'"):
        get_adapter("entry-name")


def test_params_for_applies_subset_overrides_under_the_profile():
    class Tiny(Adapter):
        name = "tiny"
        default_params = {"depth": 3, "history": 2.0}
        profiles = {"smoke": {"depth": 1}}
        subset_params = {"FD001": {"history": 3.0, "depth": 5}}

        def _fit(self, train, valid): ...

        def _predict(self, test): ...

    assert Tiny.params_for("standard") == {"depth": 3, "history": 2.0}
    assert Tiny.params_for("standard", "FD002") == {"depth": 3, "history": 2.0}
    assert Tiny.params_for("standard", "FD001") == {"depth": 5, "history": 3.0}
    assert Tiny.params_for("smoke", "FD001") == {"depth": 1, "history": 3.0}  # a smoke run stays tiny


def test_a_dependency_inside_a_missing_package_makes_the_adapter_unavailable(plugin_on_path, monkeypatch):
    """``find_spec("autogluon.tabular")`` raises when ``autogluon`` itself is missing; that
    must read as "not installed" (a skipped trial), not crash the listing or the study."""
    cls = get_adapter("test-needs-missing-package")
    monkeypatch.setitem(cls.tags, "python_dependencies", ["package_that_is_not_installed_anywhere.tabular"])
    assert "needs package_that_is_not_installed_anywhere.tabular, not installed" in cls.unavailable_reason()


@pytest.mark.slow
def test_a_study_runs_the_other_models_beside_a_broken_plugin(synthetic_dir, tmp_path):
    path = os.pathsep.join([str(BAD_PLUGINS / "broken"), str(PLUGIN_DIR), str(ROOT)])
    result = subprocess.run(
        [sys.executable, "-m", "study.run", "--profile", "smoke", "--models", "test-constant", "--subsets", "FD001",
         "--seeds", "1", "--data-dir", str(synthetic_dir), "--allow-unverified-data", "--executor", "inline",
         "--out", str(tmp_path / "run"), "--no-report"],
        cwd=ROOT, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": path}, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert [row["status"] for row in ResultStore(tmp_path / "run").rows()] == ["ok"]


def test_a_study_of_every_model_names_the_plugins_it_leaves_out(synthetic_dir, tmp_path, monkeypatch):
    import io

    from rich.console import Console

    import study.execution.runner as runner
    from study.contract.registry import Registration

    monkeypatch.syspath_prepend(str(PLUGIN_DIR))
    constant = get_adapter("test-constant")
    broken = Registration("bad-plugin", "bad_pkg:Adapter", "package bad-pkg 0.1 (entry point bad-plugin)",
                          error="could not be loaded: ModuleNotFoundError: No module named 'badlib'")
    monkeypatch.setattr(runner, "registrations", lambda: [Registration("test-constant", "x:Y", "test", cls=constant),
                                                          broken])
    monkeypatch.setattr(runner, "all_adapters", lambda: {"test-constant": constant})
    out = io.StringIO()
    runner.run_study(runner.RunConfig(out=tmp_path / "run", profile="smoke", subsets=["FD001"], seeds=1,
                                      data_dir=synthetic_dir, offline=True, allow_unverified_data=True,
                                      executor="inline"), Console(file=out, width=300))
    text = out.getvalue()
    assert "model 'bad-plugin' (package bad-pkg 0.1 (entry point bad-plugin)) is left out" in text
    assert "No module named 'badlib'" in text and "test-constant" in text


def test_each_builtin_model_lives_in_the_module_named_after_it():
    """``adapters/<name with - as _>.py`` holds the built-in model ``name``: a reader finds a
    model's code by its name."""
    from study.contract.registry import _builtin

    for reg in _builtin():
        assert reg.loaded, reg.error
        assert reg.target.split(":")[0] == "adapters." + reg.name.replace("-", "_"), reg.target
