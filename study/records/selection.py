"""Which rows count: THE rule, in one place, for every table, report, ensemble and ranking.

A run folder may hold rows of several commands: reruns (``--force``), other protocols,
other data, superseded parameters, and (since the default, hand-tuned and tuned
configurations of one model are compared side by side) several variants of a model. The
tables show, per (model, variant, subset), one configuration on one protocol and one data
fingerprint; ``study_rows`` picks those rows, and the leaderboard (``study.records.leaderboard``)
averages whatever it is given.

The choice is a value, ``Selection`` (``select``): the protocol, the data per subset and, per
(model, variant, subset), the configuration that counts and why. The runner saves it beside
the rows (``selection.json``), so a folder's tables are ``leaderboard(selection.apply(rows))``
of ``trials.jsonl`` and that file, whatever run.json's history of commands says.
"""
from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from study.core import atomic
from study.core.errors import StudyError
from study.records.migration import row_config
from study.records.rows import Field as F
from study.records.rows import variant


def current_rows(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Latest row per trial key, in the order they were last written (a forced rerun
    supersedes the older row and moves to where it was appended)."""
    latest: dict[str, dict[str, Any]] = {}
    for row in rows:
        latest.pop(row[F.KEY], None)
        latest[row[F.KEY]] = row
    return list(latest.values())


#: Why a line's configuration counts (``Selection.lines``' reasons).
NAMED = "named"  # the most recent configuration a command asked for that has rows of this variant here
NEWEST = "newest"  # no command named one with rows here: the most recently written configuration
SELECTION_FILE = "selection.json"
Line = tuple[str, str, str]  # (model, variant, subset): one leaderboard line


@dataclass(frozen=True)
class Selection:
    """Which rows count, as a value: rows on ``protocol_hash`` and, per subset, data
    ``fingerprints``; per line (model, variant, subset) the configuration that counts and
    why (``NAMED`` or ``NEWEST``). ``apply`` gives the rows; ``as_dict``/``from_dict`` are its
    file form (``selection.json``)."""

    protocol_hash: str | None
    fingerprints: dict[str, str | None] = field(default_factory=dict)
    lines: dict[Line, tuple[str, str]] = field(default_factory=dict)  # line -> (configuration, reason)

    def apply(self, rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        """The latest row of each trial key whose line and configuration this selection
        names, on its protocol and data, in write order."""
        out = []
        for row in current_rows(rows):
            if (row.get(F.PROTOCOL_HASH) != self.protocol_hash
                    or row.get(F.DATA_FINGERPRINT) != self.fingerprints.get(row[F.SUBSET])):
                continue
            chosen = self.lines.get((row[F.MODEL], variant(row), row[F.SUBSET]))
            if chosen is not None and row_config(row) == chosen[0]:
                out.append(row)
        return out

    def as_dict(self) -> dict[str, Any]:
        return {"rule": "latest row per trial key; one protocol, one data fingerprint per subset, one "
                        "configuration per (model, variant, subset)",
                "protocol_hash": self.protocol_hash, "fingerprints": dict(sorted(self.fingerprints.items())),
                "lines": [{"model": m, "variant": v, "subset": s, "config": c, "reason": why}
                          for (m, v, s), (c, why) in sorted(self.lines.items())]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Selection:
        try:
            lines = {(e["model"], e["variant"], e["subset"]): (e["config"], e["reason"]) for e in data["lines"]}
            return cls(data["protocol_hash"], dict(data["fingerprints"]), lines)
        except (KeyError, TypeError, ValueError) as exc:
            raise StudyError(f"Not a row selection ({type(exc).__name__}: {exc}); rebuild it with "
                             "python -m study.report RUN.") from exc


def select(rows: Iterable[dict[str, Any]], protocol_hash: str | None = None,
           fingerprints: dict[str, str] | None = None,
           configs: dict[tuple[str, str], list[str]] | None = None) -> Selection:
    """THE RULE (see ``study_rows``), as a ``Selection``: the latest-row pass runs here, once."""
    latest = current_rows(rows)
    if not latest:
        return Selection(protocol_hash)
    protocol_hash = protocol_hash or latest[-1].get(F.PROTOCOL_HASH)
    newest_data = {r[F.SUBSET]: r.get(F.DATA_FINGERPRINT) for r in latest}
    fingerprints = {**newest_data, **(fingerprints or {})}
    matching = [r for r in latest if r.get(F.PROTOCOL_HASH) == protocol_hash
                and r.get(F.DATA_FINGERPRINT) == fingerprints[r[F.SUBSET]]]
    chosen: dict[Line, tuple[str, str]] = {}
    present: dict[Line, set[str]] = {}
    for row in matching:  # write order: the last one wins
        line, configuration = (row[F.MODEL], variant(row), row[F.SUBSET]), row_config(row)
        chosen[line] = (configuration, NEWEST)
        present.setdefault(line, set()).add(configuration)
    for line, configurations in present.items():
        named = (configs or {}).get((line[0], line[2]), [])
        with_rows = [c for c in named if c in configurations]
        if with_rows:  # the most recently asked-for configuration that has rows of this variant here
            chosen[line] = (with_rows[-1], NAMED)
    shown = {row[F.SUBSET] for row in matching}
    return Selection(protocol_hash, {s: fp for s, fp in fingerprints.items() if s in shown}, chosen)


def study_rows(rows: Iterable[dict[str, Any]], protocol_hash: str | None = None,
               fingerprints: dict[str, str] | None = None,
               configs: dict[tuple[str, str], list[str]] | None = None) -> list[dict[str, Any]]:
    """The rows a run folder's tables show: every model run there on one protocol and data,
    each model on each subset at one configuration per variant (``study.records.rows.variant``:
    default, hand-tuned, tuned...), by default its most recently written one. ``configs``
    ((model, subset) -> ``row_config`` values, oldest first) names it instead: the last of
    them with rows of that variant here. The runner names the configurations each command
    asked for, reused trials included, so rerunning an earlier command shows its results
    again (on whichever protocol and data the tables show).

    So models and subsets can be added to a study by later commands, while rows from an
    older protocol, other data or superseded parameters never mix into the tables. Per
    subset, not per model: an adapter's settings may differ by subset (``subset_params``),
    and rerunning one subset with new settings leaves the others' rows standing. Per
    variant: a model's default, hand-tuned and tuned results stand side by side.
    ``protocol_hash`` defaults to the newest row's; ``fingerprints`` (subset -> data
    fingerprint) default to each subset's newest row's. ``select(...).apply(rows)``.
    """
    rows = list(rows)
    return select(rows, protocol_hash, fingerprints, configs).apply(rows)


def write_selection(out: Path, selection: Selection) -> None:
    """Save the selection beside the rows (atomically, like the tables it decides)."""
    atomic.write_text(Path(out) / SELECTION_FILE, json.dumps(selection.as_dict(), indent=2) + "\n")


def read_selection(out: Path) -> Selection | None:
    """A run folder's saved selection; None where none was saved (folders older than it)."""
    path = Path(out) / SELECTION_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        return Selection.from_dict(json.loads(text))
    except ValueError as exc:
        raise StudyError(f"{path} is not valid JSON ({exc}); rebuild it with python -m study.report "
                         f"{Path(out)}.") from exc


def configs_from(run_info: dict[str, Any]) -> dict[tuple[str, str], list[str]]:
    """A run.json's ``configs`` ("model/subset" -> configurations asked for, oldest first), as
    ``study_rows`` takes them."""
    configs = {}
    stored = run_info.get("configs")
    for pair, asked in (stored.items() if isinstance(stored, dict) else ()):
        if isinstance(pair, str) and isinstance(asked, list):  # a hand-edited file may hold anything
            model, _, subset = pair.rpartition("/")
            configs[model, subset] = [c for c in asked if isinstance(c, str)]
    return configs


def remember_configs(previous: dict[str, list[str]], asked: dict[str, str], keep: int = 20) -> dict[str, list[str]]:
    """run.json's ``configs`` after a command: each pair's list with what it asked for moved
    to the end (the newest ``keep``), so each protocol and data keeps its last request."""
    merged = {pair: list(configs) for pair, configs in previous.items() if isinstance(configs, list)}
    for pair, configuration in asked.items():
        merged[pair] = [c for c in merged.get(pair, []) if c != configuration][-(keep - 1):] + [configuration]
    return merged



__all__ = ["current_rows", "row_config", "study_rows", "configs_from", "remember_configs", "Selection", "select",
           "write_selection", "read_selection", "SELECTION_FILE"]
