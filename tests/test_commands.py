"""The ``study`` console script (``study.commands``, also ``python -m study``): one entry point
whose subcommands are the ``python -m study.X`` modules, with those modules' own parsers; and
the options several commands share, declared once in ``study.core.cli``."""
from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

from study.commands import COMMANDS, main, subcommand_parser

ROOT = Path(__file__).resolve().parents[1]
MODULES = {"run": "study.run", "tune": "study.tune", "report": "study.report", "ensemble": "study.ensemble",
           "compare": "study.compare", "rank": "study.rank", "tuning-summary": "study.tuning_summary"}


def _exit_code(argv: list[str]) -> int:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    return exc.value.code


def _after_usage(text: str) -> str:
    """A help text without its usage lines (they name the program, and wrap by its length)."""
    return text.split("\n\n", 1)[1]


def test_every_command_module_is_a_subcommand():
    assert {name: module for name, (module, _) in COMMANDS.items()} == MODULES


def test_study_help_lists_every_subcommand_with_its_line(capsys):
    assert _exit_code(["--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert text.startswith("usage: study")
    for name, (_, summary) in COMMANDS.items():
        assert f"{name} {summary}" in text, name


def test_python_m_study_is_the_dispatcher():
    result = subprocess.run([sys.executable, "-m", "study", "--help"], cwd=ROOT, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert all(name in result.stdout for name in MODULES)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_a_subcommands_help_is_its_modules_help(name, capsys):
    assert _exit_code([name, "--help"]) == 0
    shown = capsys.readouterr().out
    own = importlib.import_module(MODULES[name]).build_parser()
    assert shown.startswith(f"usage: study {name} ")
    assert _after_usage(shown) == _after_usage(own.format_help())
    assert own.prog == f"python -m {MODULES[name]}"  # the module's own command line is unchanged


@pytest.mark.parametrize("name", sorted(MODULES))
def test_a_subcommand_has_its_modules_options_and_defaults(name):
    own = importlib.import_module(MODULES[name]).build_parser()
    sub = subcommand_parser(name)
    options = lambda parser: {(tuple(a.option_strings), a.dest, repr(a.default), a.required, repr(a.choices))
                              for a in parser._actions}
    assert options(sub) == options(own)


def test_study_run_list_models_exits_0(capsys):
    assert main(["run", "--list-models"]) == 0
    out = capsys.readouterr().out
    assert "Registered adapters" in out and "xgboost" in out


def test_a_subcommand_hands_its_arguments_to_the_modules_main(monkeypatch, tmp_path):
    seen = []
    module = importlib.import_module("study.tuning_summary")
    monkeypatch.setattr(module, "main", lambda argv: seen.append(argv) or 7)
    assert main(["tuning-summary", str(tmp_path), "--debug"]) == 7
    assert seen == [[str(tmp_path), "--debug"]]


def test_an_unknown_subcommand_exits_2_with_a_message(capsys):
    assert _exit_code(["rnu", "--list-models"]) == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'rnu'" in err and "tuning-summary" in err


def test_no_subcommand_exits_2_with_a_message(capsys):
    assert _exit_code([]) == 2
    assert "required: COMMAND" in capsys.readouterr().err


def test_a_bad_option_is_refused_in_the_subcommands_name(capsys, monkeypatch):
    monkeypatch.setattr(importlib.import_module("study.run"), "main", lambda argv: pytest.fail("ran"))
    assert _exit_code(["run", "--workers", "two"]) == 2
    assert "study run: error: argument --workers: invalid int value: 'two'" in capsys.readouterr().err


# the options several commands take: declared once (study.core.cli), so one name, default and help everywhere
SHARED = {"--debug": {"run", "tune", "report", "ensemble", "compare", "rank", "tuning-summary"},
          "--data-dir": {"run", "tune"}, "--offline": {"run", "tune"}, "--allow-unverified-data": {"run", "tune"},
          "--models": {"run", "tune"}, "--subsets": {"run", "tune"},
          "--executor": {"run", "tune"}, "--workers": {"run", "tune"}, "--ray-address": {"run", "tune"}}


@pytest.mark.parametrize("option", sorted(SHARED))
def test_a_shared_option_reads_the_same_in_every_command(option):
    actions = {}
    for name, module in MODULES.items():
        parser = importlib.import_module(module).build_parser()
        found = [a for a in parser._actions if option in a.option_strings]
        if found:
            actions[name] = found[0]
    assert set(actions) == SHARED[option]
    assert len({(a.dest, repr(a.default), repr(a.type), repr(a.choices), type(a)) for a in actions.values()}) == 1
    helps = {a.help for a in actions.values()}
    if option == "--workers":  # what one worker does differs (a trial, a fit): the rest of it is shared
        assert all("--executor local" in h and h.endswith("(default 1)") for h in helps)
    elif option == "--debug":  # run also prints each failed trial's traceback
        assert {h.split(";")[0] for h in helps} == {"on an error, also print the Python traceback"}
    else:
        assert len(helps) == 1, helps


def test_the_defaults_the_readme_and_tests_rely_on_are_kept():
    run = importlib.import_module("study.run").build_parser().parse_args([])
    tune = importlib.import_module("study.tune").build_parser().parse_args([])
    assert (run.executor, run.workers, run.ray_address, run.data_dir, run.offline, run.allow_unverified_data,
            run.models, run.subsets, run.debug) == ("local", 1, None, None, False, False, None, None, False)
    assert (tune.executor, tune.workers, tune.ray_address, tune.out, tune.models) == (
        "local", 1, None, Path("runs/tuning"), None)
    assert run.models is None and importlib.import_module("study.run").build_parser().parse_args(
        ["--models", "xgboost, lstm", "--subsets", "FD001"]).models == ["xgboost", "lstm"]
