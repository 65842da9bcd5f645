"""The ``study`` console script: ``study run ...`` is ``python -m study.run ...``, and so on.

Each subcommand is one of the command modules, with that module's own parser (``parents=``),
so its options, defaults and ``--help`` are the module's; the line run is that module's
``main``. ``python -m study`` is the same dispatcher, and ``python -m study.run`` etc. keep
working on their own.
"""
from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# subcommand -> (module, the one line `study --help` shows)
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("study.run", "run (or resume) the study"),
    "tune": ("study.tune", "tune each (model, subset) with the same budget on folds of the training engines"),
    "report": ("study.report", "write the markdown report and figures of a run folder"),
    "ensemble": ("study.ensemble", "add ensembles of a run's models, weights chosen on validation engines"),
    "compare": ("study.compare", "did a change lower the test RMSE by more than the test engines' noise?"),
    "rank": ("study.rank", "place a new run's models into a committed study's leaderboard"),
    "tuning-summary": ("study.tuning_summary", "one line per (model, subset) of a tuning folder"),
}


def command_parser(name: str) -> argparse.ArgumentParser:
    """The parser of the module behind subcommand ``name`` (its ``build_parser``)."""
    return importlib.import_module(COMMANDS[name][0]).build_parser()


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """``study`` and its subcommands; only ``command``'s module is imported and its parser
    attached (the others are listed by name and one line, enough for ``study --help``)."""
    parser = argparse.ArgumentParser(
        prog="study", description="The C-MAPSS RUL comparison study. Each command is also "
                                  "python -m study.COMMAND (tuning-summary: study.tuning_summary).",
        epilog="study COMMAND --help shows a command's options.")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (_, summary) in COMMANDS.items():
        if name == command:
            own = command_parser(name)
            subparsers.add_parser(name, parents=[own], add_help=False, help=summary, description=own.description,
                                  epilog=own.epilog)
        else:
            subparsers.add_parser(name, help=summary, add_help=False)
    parser.set_defaults(subcommands=subparsers.choices)
    return parser


def subcommand_parser(name: str) -> argparse.ArgumentParser:
    """``study NAME``'s parser: the module's options, help and defaults, named ``study NAME``."""
    return build_parser(name).get_default("subcommands")[name]


def main(argv: Sequence[str] | None = None) -> int:
    """``study COMMAND [options]``: checks the options with the command's own parser (errors
    and ``--help`` name ``study COMMAND``), then hands them to the command module's ``main``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in COMMANDS:
        build_parser().parse_args(argv)  # --help exits 0; no command or an unknown one exits 2
        return 2  # not reached: parse_args has exited
    command, rest = argv[0], argv[1:]
    subcommand_parser(command).parse_args(rest)  # --help, or a bad option (exit 2), as `study COMMAND`
    return importlib.import_module(COMMANDS[command][0]).main(rest)


if __name__ == "__main__":
    sys.exit(main())
