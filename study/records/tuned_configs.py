"""Tuned configurations: what ``python -m study.tune`` selected, read back for a study run.

``python -m study.run --tuned TUNING_DIR`` runs each (model, subset) at the configuration its
tuning selected, and every row carries a ``tuning`` link (study id, budget, evaluations, best
validation RMSE), so a score can always be traced to the search that produced it. A records
module: it reads what a tuning recorded (earlier versions' parameter names included,
``study.records.migration``) into the links rows carry.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from study.core.errors import StudyError
from study.records.migration import current_params

#: What a run reads from a pair's summary (``study.tuning.tuner.summarise`` writes them all).
SUMMARY_FIELDS = ("model", "subset", "study_id", "budget_s", "spent_seconds", "n_evaluations", "best_valid_rmse",
                  "best_params", "settings")
SETTINGS_FIELDS = ("folds", "protocol_hash")
#: The way out of a damaged summary, in every message about one.
TUNE_AGAIN = "Tune this pair again (python -m study.tune), or restore the file."


@dataclass(frozen=True)
class TunedConfig:
    """One pair's selected parameters, the link its rows carry, and the file they came from."""

    params: dict[str, Any]
    link: dict[str, Any]
    path: Path | None = None


def load_tuned(folder: Path, budget_s: float | None = None) -> dict[tuple[str, str], TunedConfig]:
    """(model, subset) -> its tuned configuration, from the tuning folder's JSON files; with
    ``budget_s``, the configuration a tuning of that many CPU seconds would have selected
    (the summary's ``incumbents``, ``study.tuning.tuner.incumbent_at``), linked as a budget point."""
    folder = Path(folder)
    if not (folder / "tune.json").is_file():
        raise StudyError(f"--tuned {folder}: not a tuning folder (no tune.json); run python -m study.tune first.")
    tuned = {}
    for path in sorted(folder.glob("*-FD00?.json")):
        summary = read_summary(path)
        point = incumbent(summary, path, budget_s) if budget_s is not None else None
        if summary["best_params"] is None or (budget_s is not None and point is None):
            continue  # no evaluation succeeded: nothing to run
        params = point["params"] if point else summary["best_params"]
        params = current_params(summary["model"], params)  # tuned by an earlier version: today's names
        tuned[(summary["model"], summary["subset"])] = TunedConfig(params, {
            "dir": str(folder), "study_id": summary["study_id"], "budget_s": summary["budget_s"],
            "spent_seconds": summary["spent_seconds"], "n_evaluations": summary["n_evaluations"],
            "best_valid_rmse": summary["best_valid_rmse"], "folds": summary["settings"]["folds"],
            "protocol_hash": summary["settings"]["protocol_hash"],
            **({"budget_point_s": budget_s, "best_valid_rmse": point["valid_rmse"],
                "best_evaluation": point["evaluation"], "spent_at_end": point["spent_at_end"]} if point else {}),
        }, path)
    return tuned


def incumbent(summary: dict[str, Any], path: Path, budget_s: float) -> dict[str, Any] | None:
    """The pair's incumbent at ``budget_s`` CPU seconds; refused when the tuning had a smaller
    budget (it cannot say what more would have bought) or recorded no incumbents (an earlier
    version of the tuner: tune again)."""
    if float(summary["budget_s"]) < budget_s:
        raise StudyError(f"--tuned-budget {budget_s:g}: {path} was tuned with a budget of {summary['budget_s']:g} s "
                         "only; a budget point can be at most the tuning's budget.")
    points = summary.get("incumbents")
    if not isinstance(points, dict) or f"{budget_s:g}" not in points:
        held = ", ".join(points) if isinstance(points, dict) and points else "none"
        raise StudyError(f"--tuned-budget {budget_s:g}: {path} records no incumbent at that budget (it has: {held}). "
                         "Budget points are those study.tune records (600, 1800, 3600 s) within the tuning's budget.")
    point = points[f"{budget_s:g}"]
    if point is not None and not (isinstance(point, dict) and isinstance(point.get("params"), dict)):
        raise StudyError(f"--tuned: {path} has a damaged incumbent at {budget_s:g} s. {TUNE_AGAIN}")
    return point


def read_summary(path: Path) -> dict[str, Any]:
    """A pair's summary, checked for what a run reads from it: a JSON object with
    ``SUMMARY_FIELDS``, of the pair its name says (``MODEL-SUBSET.json``), ``best_params`` an
    object (or null: no evaluation succeeded). Else a ``StudyError`` naming the file: a damaged
    summary must not become failed rows, nor a copied one another pair's configuration."""
    def bad(why: str, then: str = TUNE_AGAIN) -> StudyError:
        return StudyError(f"--tuned: {path} {why}. {then}")

    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:  # empty, not JSON, not UTF-8
        raise bad("is empty" if not path.read_bytes().strip() else f"is not valid JSON ({exc})") from exc
    if not isinstance(summary, dict):
        raise bad(f"holds a JSON {type(summary).__name__}, not a tuning summary (an object)")
    settings = summary.get("settings")
    missing = [name for name in SUMMARY_FIELDS if name not in summary]
    missing += [f"settings.{name}" for name in SETTINGS_FIELDS if isinstance(settings, dict) and name not in settings]
    if missing:
        raise bad(f"is not a complete tuning summary: it lacks {', '.join(missing)}")
    if not isinstance(settings, dict):
        raise bad(f"has settings that are not an object (got {settings!r:.60})")
    if path.name != f"{summary['model']}-{summary['subset']}.json":
        raise bad(f"holds the tuning of {summary['model']}/{summary['subset']}, not of the pair its name says",
                  "Put each summary back under its own name (MODEL-SUBSET.json), or move this one away.")
    if summary["best_params"] is not None and not isinstance(summary["best_params"], dict):
        raise bad(f"has best_params that are not an object of parameter values (got {summary['best_params']!r:.60})")
    return summary


def tuned_for(tuned: dict[tuple[str, str], TunedConfig], models: list[str], subsets: list[str],
              protocol_hash: str) -> dict[tuple[str, str], TunedConfig]:
    """The tuned configuration of every requested pair; a missing pair, or one tuned under
    another protocol, is a user error (a tuned run must not silently fall back to defaults).
    ``protocol_hash`` is the run's ``Protocol.selection_hash()``: the protocol less ``refit``,
    since the tuner selects without refitting, so a tuning serves a run with refit on or off."""
    missing = [f"{m}/{s}" for m in models for s in subsets if (m, s) not in tuned]
    if missing:
        raise StudyError(f"--tuned has no successful tuning for {', '.join(missing)}; tune them first "
                         "(python -m study.tune) or leave them out with --models/--subsets.")
    other = sorted(f"{m}/{s}" for (m, s), t in tuned.items()
                   if m in models and s in subsets and t.link["protocol_hash"] != protocol_hash)
    if other:
        raise StudyError(f"--tuned: {', '.join(other)} were tuned under another protocol than this run's "
                         f"({protocol_hash}); tune again.")
    return {(m, s): tuned[(m, s)] for m in models for s in subsets}
