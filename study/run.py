"""Command line: ``python -m study.run [options]`` runs (or resumes) the study."""
from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from study.contract.profiles import PROFILES
from study.core.cli import (add_data_options, add_debug_option, add_execution_options, add_selection_options,
                            main_guarded)
from study.core.errors import AllTrialsFailed, StudyError


def _parse_sets(items: list[str]) -> dict[str, dict[str, Any]]:
    """``MODEL.PARAM=VALUE`` pairs into per-model overrides (values parsed as Python literals)."""
    params: dict[str, dict[str, Any]] = {}
    for item in items:
        target, sep, value = item.partition("=")
        model, dot, name = target.partition(".")
        if not sep or not dot or not model or not name:
            raise StudyError(f"--set expects MODEL.PARAM=VALUE, got {item!r}.")
        try:
            parsed: Any = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            parsed = value
        params.setdefault(model, {})[name] = parsed
    return params


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m study.run",
        description="Run the C-MAPSS RUL comparison study (resumes an interrupted run in the same --out).")
    parser.add_argument("--profile", default="standard", help="; ".join(
        f"{name}: {profile.description}" for name, profile in PROFILES.items()) + " (default: standard)")
    add_selection_options(parser)
    parser.add_argument("--seeds", type=int, help="number of seeds per model and subset (default: the profile's)")
    add_data_options(parser)
    parser.add_argument("--out", type=Path, help="run folder (default: runs/<profile>)")
    parser.add_argument("--force", action="store_true", help="rerun trials that already have results")
    parser.add_argument("--set", dest="sets", action="append", default=[], metavar="MODEL.PARAM=VALUE",
                        help="override an adapter parameter, e.g. --set xgboost.max_depth=4 (repeatable)")
    parser.add_argument("--chronos-model", help="Chronos model id or local path (same as --set chronos.model=...)")
    add_execution_options(parser, workers_help="trials at once with --executor local (default 1)")
    parser.add_argument("--time-limit", type=float, metavar="SECONDS",
                        help="per-trial limit; a trial past it is killed and recorded as failed (default: the profile's)")
    parser.add_argument("--tuned", type=Path, metavar="TUNING_DIR",
                        help="run each (model, subset) at the configuration python -m study.tune selected there "
                             "(without --models: every model tuned there on all of the run's subsets)")
    parser.add_argument("--tuned-budget", type=float, metavar="SECONDS",
                        help="with --tuned: run the configuration a tuning of this many CPU seconds would have selected "
                             "(600, 1800 or 3600 within the tuning's budget; rows are the variant tuned-10m, -30m, -60m)")
    parser.add_argument("--refit", action="store_true",
                        help="after selection, refit each model on training + validation engines with the selected "
                             "iteration or epoch count (a protocol setting: in the card, the hash and every row)")
    parser.add_argument("--mlflow", metavar="URI", help="also log each trial to this MLflow tracking URI")
    parser.add_argument("--no-report", action="store_true", help="do not write report.md at the end")
    parser.add_argument("--list-models", action="store_true", help="list the adapters and whether they can run here")
    add_debug_option(parser, also="print each failed trial's traceback")
    return parser


def list_models(console: Console) -> None:
    """Every adapter found and whether it can run here; plugins that failed to load are rows
    too (with their error and package), and a name claimed twice is shown, not raised."""
    from rich.text import Text

    from study.contract.registry import name_conflicts, duplicate_message, registrations

    found = registrations()
    conflicts = name_conflicts(found)
    table = Table(title="Registered adapters")
    for col in ("name", "library", "formulation", "available here", "source"):
        table.add_column(col)
    for reg in sorted(found, key=lambda r: r.name):
        cls = reg.cls
        if cls is None:
            status = f"no: {reg.error}"
        elif reg.name in conflicts:
            status = f"no: {duplicate_message(reg.name, conflicts[reg.name])}"
        else:
            reason = cls.unavailable_reason()
            status = (f"no: {reason}" if reason else
                      "yes, given its pretrained weights" if cls.tags.get("needs_weights") else "yes")
        status = " ".join([status, *(f"(note: {note})" for note in reg.notes)])
        tags = cls.tags if cls is not None else {}
        # Text, not markup: an install hint's '.[extra]' would otherwise be read as a rich tag
        table.add_row(*(Text(str(cell)) for cell in (reg.name, tags.get("library", ""), tags.get("formulation", ""),
                                                      status, reg.source)))
    console.print(table)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    console = Console()
    if not console.is_terminal:  # a log, a pipe, CI: rich would cut the tables at 80 columns
        console = Console(width=200)
    return main_guarded(lambda: _main(args, console), args.debug, console)


def _main(args: argparse.Namespace, console: Console) -> int:
    if args.list_models:
        list_models(console)
        return 0
    from study.data.protocol import Protocol
    from study.execution.runner import RunConfig, open_run, run_study

    sets = _parse_sets(args.sets)
    if args.chronos_model:
        if args.models and "chronos" not in args.models:
            raise StudyError("--chronos-model sets the chronos model's weights, but --models leaves chronos out.")
        sets.setdefault("chronos", {})["model"] = _local_path_absolute(args.chronos_model)
    config = RunConfig(
        out=args.out or Path("runs") / args.profile, profile=args.profile, subsets=args.subsets,
        models=args.models, seeds=args.seeds, data_dir=args.data_dir, offline=args.offline,
        allow_unverified_data=args.allow_unverified_data, force=args.force, model_params=sets,
        executor=args.executor, workers=args.workers, ray_address=args.ray_address, mlflow_uri=args.mlflow,
        time_limit_s=args.time_limit, tuned_dir=args.tuned, tuned_budget_s=args.tuned_budget,
        protocol=Protocol(refit=args.refit))
    # validated (bad options refused before the run folder is touched), the folder checked and
    # locked, the CPU share computed: once, here; the lock is held through the report too
    with open_run(config, console) as plan:
        try:
            run_study(plan, console, debug=args.debug)
        except AllTrialsFailed as exc:  # the trials' tracebacks, not the harness's, are what --debug shows
            console.print(f"[bold red]Error:[/] {exc}", highlight=False, soft_wrap=True)
            return exc.exit_code
        if not args.no_report:
            _write_report(plan.config.out, console)
    return 0


def _local_path_absolute(model: str) -> str:
    """A ``--chronos-model`` naming a local folder, as an absolute path: each trial runs in its
    own artifacts folder, where a relative path would name nothing (a hub id is kept as given)."""
    path = Path(model).expanduser()
    return str(path.absolute()) if not path.is_absolute() and path.is_dir() else model


def _write_report(out: Path, console: Console) -> None:
    from study.publishing.report import write_report  # a broken report module fails loudly, not silently

    path = write_report(out)
    console.print(f"Report written to {path}")


if __name__ == "__main__":
    sys.exit(main())
