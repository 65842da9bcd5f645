"""What a tuning folder holds, one line per (model, subset): how many evaluations the equal
budget bought, the out-of-the-box configuration's validation RMSE (the tuner's first
evaluation) and the best one found, and how busy the machine was meanwhile.

``python -m study.tuning_summary TUNING_DIR`` prints it (also while the tuner is running, from
the journals); ``study.report`` puts the same table in a report whose rows were tuned there.

A long tuning read at shorter budgets (the budget curves): ``--budgets`` gives, per pair, the
evaluations each budget bought and the configuration it chose (``budget_table``), and the
journals also give each pair's improvement minute by minute (``incumbent_traces``), what the
largest budget chose (``chosen_markdown``), and the check that no tuned row was scored before
its tuning ended (``scored_before_tuning_ended``). Validation folds only, like the tuner.
"""
from __future__ import annotations

import argparse
import json
import statistics
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from study.core import atomic
from study.core.cli import add_debug_option, main_guarded
from study.core.errors import StudyError
from study.core.markdown import refresh_tables, table_names
from study.records.tuned_configs import read_summary

COLUMNS = ["model", "subset", "evaluations", "pruned", "failed", "in_first_600s", "pruned_in_first_600s",
           "budget_s", "spent_s",
           "default_valid_rmse", "best_valid_rmse", "gain", "best_evaluation", "median_load"]
#: The budget at which the "configurations per 10 minutes" count is read (CPU or, for the
#: first race, wall-clock seconds as that tuning charged them).
FIRST_BUDGET_S = 600.0


def _pairs(folder: Path) -> list[tuple[str, str, Path]]:
    """(model, subset, journal) for every journal in the folder (``MODEL-FD00x.log``)."""
    found = []
    for path in sorted((Path(folder) / "journals").glob("*-FD00?.log")):
        model, _, subset = path.stem.rpartition("-")
        found.append((model, subset, path))
    return found


def pair_line(model: str, subset: str, journal: Path) -> dict[str, Any]:
    """One pair's line, read from its Optuna journal (the tuner's only state)."""
    from optuna.trial import TrialState

    from study.tuning.tuner import finished_trials, incumbent_at, load_pair_study

    study = load_pair_study(journal, model, subset)
    finished = finished_trials(study)
    settings = study.user_attrs.get("settings", {})
    best = incumbent_at(study, float(settings.get("budget_s") or "inf"))
    first = next((t for t in finished if t.number == min(u.number for u in finished)), None) if finished else None
    default = first.value if first is not None and first.state == TrialState.COMPLETE else None
    loads = [t.user_attrs["load_1min"] for t in finished if "load_1min" in t.user_attrs]
    charged = np.cumsum([t.user_attrs.get("charged_seconds", 0.0) for t in finished])
    # evaluations (complete or pruned) that ended within the first 10 minutes' charge
    early = [t for t, spent in zip(finished, charged) if spent <= FIRST_BUDGET_S and t.state != TrialState.FAIL]
    return {
        "model": model, "subset": subset, "evaluations": len(finished),
        "pruned": sum(1 for t in finished if t.state == TrialState.PRUNED),
        "failed": sum(1 for t in finished if t.state == TrialState.FAIL),
        "in_first_600s": len(early),
        "pruned_in_first_600s": sum(1 for t in early if t.state == TrialState.PRUNED),
        "budget_s": settings.get("budget_s"),
        "spent_s": round(sum(t.user_attrs.get("charged_seconds", 0.0) for t in finished), 1),
        "default_valid_rmse": default, "best_valid_rmse": best.value if best else None,
        "gain": (default - best.value) if default is not None and best is not None else None,
        "best_evaluation": best.number if best else None,
        "median_load": statistics.median(loads) if loads else None,
    }


def tuning_table(folder: Path) -> pd.DataFrame:
    """Every pair of a tuning folder, ordered by subset then best validation RMSE."""
    folder = Path(folder)
    if not (folder / "tune.json").is_file():
        raise StudyError(f"{folder}: not a tuning folder (no tune.json); python -m study.tune writes one.")
    lines = [pair_line(model, subset, journal) for model, subset, journal in _pairs(folder)]
    table = pd.DataFrame(lines, columns=COLUMNS)
    return table.sort_values(["subset", "best_valid_rmse", "model"], na_position="last").reset_index(drop=True)


def journal_last_time(journal: Path) -> datetime | None:
    """The latest time an Optuna journal records (an evaluation started or finished): when
    the tuning behind it last did anything. None for a journal without times."""
    times = []
    for line in Path(journal).read_text(encoding="utf-8").splitlines():
        record = json.loads(line) if line.strip() else {}
        times += [datetime.fromisoformat(value) for name, value in record.items()
                  if name.startswith("datetime_") and isinstance(value, str)]
    return max(times, default=None)


def scored_before_tuning_ended(rows: list[dict[str, Any]], root: Path) -> tuple[int, list[str]]:
    """Check that no tuned configuration was scored on the test engines while its tuning could
    still change: for every (tuning study, model, subset) that rows link to (``Field.TUNING``,
    a budget point included), the first row's ``started_at`` (a copy's ``copied_at``: a copy
    of an equal configuration's earlier row becomes this variant's test row when it is copied)
    must come after the last time the pair's journal (``root/DIR/journals/MODEL-SUBSET.log``)
    records. Returns how many pairs were checked and what is wrong (a row scored earlier, a
    copy that does not say when it was made, a journal not found)."""
    first: dict[tuple[str, str, str], datetime] = {}
    problems = []
    for row in rows:
        link = row.get("tuning") or {}
        if "study_id" not in link or "dir" not in link or not row.get("started_at"):
            continue  # untuned, or an ensemble (its members carry the links)
        pair = (link["dir"], row["model"], row["subset"])
        if row.get("copied_from") and not row.get("copied_at") and link.get("budget_point_s"):
            problems.append(f"{row['model']}/{row['subset']}: a copied budget-point row without copied_at")
            continue
        stamp = row.get("copied_at") if row.get("copied_from") and row.get("copied_at") else row["started_at"]
        started = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S%z")
        first[pair] = min(started, first.get(pair, started))
    for (folder, model, subset), started in sorted(first.items()):
        journal = Path(root) / folder / "journals" / f"{model}-{subset}.log"
        if not journal.is_file():
            problems.append(f"{model}/{subset}: its tuning journal {journal} is not there")
            continue
        ended = journal_last_time(journal)
        if ended is None or ended >= started:
            problems.append(f"{model}/{subset}: scored at {started:%Y-%m-%d %H:%M:%S} but its tuning ({journal}) "
                            f"recorded {'no time' if ended is None else f'activity until {ended:%Y-%m-%d %H:%M:%S}'}")
    return len(first), problems


def budget_line(model: str, subset: str, journal: Path, budgets: Sequence[float]) -> dict[str, Any]:
    """One pair of a long tuning read at shorter budgets: what a tuning of each budget would
    have bought (evaluations that ended within it, complete or stopped early) and chosen
    (``incumbent_at``'s validation RMSE). A budget the pair has not spent yet is left empty,
    and ``done`` says whether its tuning has ended (its summary, ``MODEL-SUBSET.json``, exists)."""
    from optuna.trial import TrialState

    from study.tuning.tuner import finished_trials, incumbent_at, load_pair_study

    study = load_pair_study(journal, model, subset)
    counted = [t for t in finished_trials(study) if t.state != TrialState.FAIL]
    spent = max((t.user_attrs.get("spent_at_end", 0.0) for t in counted), default=0.0)
    done = (journal.parent.parent / f"{model}-{subset}.json").is_file()
    line: dict[str, Any] = {"model": model, "subset": subset, "done": done, "spent_s": spent,
                            "evaluations": len(counted),
                            "complete": sum(1 for t in counted if t.state == TrialState.COMPLETE),
                            "default_valid_rmse": line_default(counted)}
    own = float(study.user_attrs.get("settings", {}).get("budget_s") or "inf")
    for budget in budgets:
        reached = done or spent >= budget
        # at the pair's own budget, every evaluation counts: the last one may be charged a little
        # past it (stopped at its rung when the budget ran out); a shorter budget counts those
        # that ended within it
        within = [t for t in counted if budget >= own or t.user_attrs.get("spent_at_end", 0.0) <= budget]
        best = incumbent_at(study, budget) if reached else None
        line[f"evaluations_{budget_label(budget)}"] = len(within) if reached else None
        line[f"valid_{budget_label(budget)}"] = best.value if best is not None else None
    return line


def incumbent_trace(model: str, subset: str, journal: Path) -> pd.DataFrame:
    """How a pair's choice improved as its budget was spent: after each completed evaluation
    (in the order they ended, by the CPU seconds charged so far), the validation RMSE of the
    configuration a tuning stopped there would choose (``incumbent_at``: the best completed
    one; the out-of-the-box first evaluation counts whatever it cost), with the CPU seconds the
    pair has spent (``spent_s``, where its line ends) and whether its tuning has ended (``done``)."""
    from optuna.trial import TrialState

    from study.tuning.tuner import finished_trials, load_pair_study

    counted = [t for t in finished_trials(load_pair_study(journal, model, subset)) if t.state != TrialState.FAIL]
    first = min((t.number for t in counted), default=None)
    complete = sorted((t for t in counted if t.state == TrialState.COMPLETE),
                      key=lambda t: (0.0 if t.number == first else t.user_attrs.get("spent_at_end", 0.0), t.number))
    spent_s = max((t.user_attrs.get("spent_at_end", 0.0) for t in counted), default=0.0)
    done = (journal.parent.parent / f"{model}-{subset}.json").is_file()
    points, best = [], float("inf")
    for trial in complete:
        best = min(best, trial.value)
        spent = 0.0 if trial.number == first else trial.user_attrs.get("spent_at_end", 0.0)
        points.append({"model": model, "subset": subset, "cpu_s": spent, "valid_rmse": best,
                       "spent_s": spent_s, "done": done})
    return pd.DataFrame(points, columns=["model", "subset", "cpu_s", "valid_rmse", "spent_s", "done"])


def incumbent_traces(folders: Sequence[Path]) -> pd.DataFrame:
    """``incumbent_trace`` of every pair of the folders, one journal read each."""
    parts = []
    for folder in folders:
        for model, subset, journal in _pairs(Path(folder)):
            trace = incumbent_trace(model, subset, journal)
            if len(trace):  # a pair whose first evaluation is still running has no point yet
                parts.append(trace)
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def chosen_markdown(folders: Sequence[Path], budget_s: float) -> str:
    """What the tunings chose, per model: each searched parameter out of the box and in the
    configuration a tuning of ``budget_s`` CPU seconds chose on each finished subset (from the
    pairs' summaries, ``incumbents``); ``=`` where it kept the default. What a reader who asks
    "how should I set up a Transformer?" can copy."""
    found: dict[str, dict[str, dict[str, Any]]] = {}
    for folder in folders:
        for path in sorted(Path(folder).glob("*-FD00?.json")):
            summary = read_summary(path)  # checked as a tuned run reads it
            point = (summary.get("incumbents") or {}).get(f"{budget_s:g}")
            if point:
                found.setdefault(summary["model"], {})[summary["subset"]] = {
                    "space": summary["settings"]["search_space"], "base": summary["settings"]["base_params"],
                    "chosen": point["params"]}
    if not found:
        return f"_no finished tuning with an incumbent at {budget_s:g} CPU s yet_\n"
    parts = []
    for model in sorted(found):
        subsets = sorted(found[model])
        first = found[model][subsets[0]]
        lines = [f"**{model}** at {budget_label(budget_s)}:", "",
                 "| parameter | searched over | out of the box | " + " | ".join(subsets) + " |",
                 "|" + "---|" * (3 + len(subsets))]
        for name in sorted(first["space"]):
            default = first["base"].get(name)
            cells = [_setting(found[model][sub]["chosen"].get(name), default) for sub in subsets]
            lines.append(f"| {name} | {first['space'][name]} | {_setting(default)} | " + " | ".join(cells) + " |")
        parts.append("\n".join(lines) + "\n")
    return "\n".join(parts)


def _setting(value: Any, default: Any = None) -> str:
    """A parameter value for a table: ``=`` when it equals ``default``, floats to 3 digits."""
    if default is not None and value == default:
        return "="
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def line_default(counted: list) -> float | None:
    """The validation RMSE of a pair's first evaluation (the out-of-the-box configuration)."""
    from optuna.trial import TrialState

    first = min(counted, key=lambda t: t.number, default=None)
    return first.value if first is not None and first.state == TrialState.COMPLETE else None


def budget_label(seconds: float) -> str:
    """A budget in the words of the variants it becomes: 600 s is ``10m``."""
    return f"{seconds / 60:g}m"


def budget_table(folders: Sequence[Path], budgets: Sequence[float]) -> pd.DataFrame:
    """``budget_line`` for every pair of every folder, by subset then model."""
    lines = []
    for folder in folders:
        if not (Path(folder) / "tune.json").is_file():
            raise StudyError(f"{folder}: not a tuning folder (no tune.json); python -m study.tune writes one.")
        lines += [budget_line(model, subset, journal, budgets) for model, subset, journal in _pairs(Path(folder))]
    return pd.DataFrame(lines).sort_values(["subset", "model"]).reset_index(drop=True)


def budget_markdown(table: pd.DataFrame, budgets: Sequence[float]) -> str:
    """The budget table for a README: per pair, evaluations and the incumbent's validation
    RMSE at each budget (a dash where the tuning has not got there yet)."""
    labels = [budget_label(b) for b in budgets]
    header = (["model", "subset", "status", "CPU s", "evaluations (complete)", "out of the box"]
              + [f"evaluations at {label}" for label in labels] + [f"incumbent at {label}" for label in labels])
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for line in table.to_dict("records"):
        cells = [line["model"], line["subset"], "done" if line["done"] else "running", f"{line['spent_s']:,.0f}",
                 f"{line['evaluations']} ({line['complete']})", _rmse(line["default_valid_rmse"])]
        cells += ["-" if pd.isna(line[f"evaluations_{label}"]) else f"{int(line[f'evaluations_{label}'])}"
                  for label in labels]
        cells += [_rmse(line[f"valid_{label}"]) for label in labels]
        out.append("| " + " | ".join(str(c) for c in cells) + " |")
    done = int(table["done"].sum())
    total = [f"**all {len(table)} pairs**", "", f"{done} done", f"{table['spent_s'].sum():,.0f} "
             f"({table['spent_s'].sum() / 3600:.1f} h)", f"{table['evaluations'].sum()} ({table['complete'].sum()})", ""]
    out.append("| " + " | ".join(total + [""] * (2 * len(labels))) + " |")
    return "\n".join(out) + "\n"


def _rmse(value: Any) -> str:
    return "-" if value is None or pd.isna(value) else f"{value:.2f}"


def to_markdown(table: pd.DataFrame) -> str:
    """The table for a report: RMSEs to 2 decimals, seconds whole."""
    shown = table.copy()
    for column in ("default_valid_rmse", "best_valid_rmse", "gain"):
        shown[column] = shown[column].map(lambda v: "" if pd.isna(v) else f"{v:.2f}")
    for column in ("budget_s", "spent_s"):
        shown[column] = shown[column].map(lambda v: "" if pd.isna(v) else f"{v:.0f}")
    shown["median_load"] = shown["median_load"].map(lambda v: "" if pd.isna(v) else f"{v:.1f}")
    shown["best_evaluation"] = shown["best_evaluation"].map(lambda v: "" if pd.isna(v) else f"{int(v)}")
    header = "| " + " | ".join(shown.columns) + " |\n|" + "---|" * len(shown.columns) + "\n"
    return header + "".join("| " + " | ".join(str(v) for v in row) + " |\n" for row in shown.itertuples(index=False))


#: The table blocks ``--into`` refreshes in a page (``study.core.markdown``).
BUDGET_BLOCK = "tuning-budgets"
CHOSEN_BLOCK = "tuning-chosen"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m study.tuning_summary",
                                     description="One line per (model, subset) of a tuning folder: evaluations, "
                                                 "budget spent, default and best validation RMSE; with --budgets, "
                                                 "what a tuning of each shorter budget would have bought and chosen.")
    parser.add_argument("folders", type=Path, nargs="+", metavar="folder",
                        help="the tuning folder(s) (python -m study.tune --out)")
    parser.add_argument("--budgets", type=_budgets, default=None, metavar="S,S,...",
                        help="read the journals at these CPU-second budgets (600,1800,3600 for the budget curves)")
    parser.add_argument("--into", type=Path, default=None, metavar="FILE",
                        help=f"with --budgets: refresh the <!-- table:{BUDGET_BLOCK} --> block of this markdown "
                             f"file instead of printing (and the <!-- table:{CHOSEN_BLOCK} --> block, where the "
                             "file has one, with what the largest budget chose)")
    add_debug_option(parser)
    return parser


def _budgets(text: str) -> list[float]:
    try:
        budgets = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give CPU seconds separated by commas, e.g. 600,1800,3600")
    if not budgets or min(budgets) <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: give at least one budget, each above 0 seconds")
    return sorted(budgets)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    def body() -> int:
        if args.budgets is None:
            if args.into is not None:
                raise StudyError("--into needs --budgets: it refreshes the budget table.")
            for folder in args.folders:
                print((f"{folder}:\n\n" if len(args.folders) > 1 else "") + to_markdown(tuning_table(folder)), end="")
            return 0
        table = budget_markdown(budget_table(args.folders, args.budgets), args.budgets)
        if args.into is None:
            print(table, end="")
            return 0
        text = args.into.read_text(encoding="utf-8")
        if BUDGET_BLOCK not in table_names(text):
            raise StudyError(f"{args.into} has no <!-- table:{BUDGET_BLOCK} --> ... <!-- /table --> block to refresh; "
                             "add one where the table belongs.")
        tables = {BUDGET_BLOCK: table, CHOSEN_BLOCK: chosen_markdown(args.folders, max(args.budgets))}
        atomic.write_text(args.into, refresh_tables(text, tables))
        print(f"refreshed the budget table in {args.into}")
        return 0

    return main_guarded(body, args.debug)
