"""Which rows count: THE rule, in one place, for every table, report, ensemble and ranking.

A run folder may hold rows of several commands: reruns (``--force``), other protocols,
other data, superseded parameters, and (since the default, hand-tuned and tuned
configurations of one model are compared side by side) several variants of a model. The
tables show, per (model, variant, subset), one configuration on one protocol and one data
fingerprint; ``study_rows`` picks those rows, and the leaderboard (``study.records.leaderboard``)
averages whatever it is given.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

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
    fingerprint) default to each subset's newest row's.
    """
    latest = current_rows(rows)
    if not latest:
        return []
    protocol_hash = protocol_hash or latest[-1].get(F.PROTOCOL_HASH)
    newest_data = {r[F.SUBSET]: r.get(F.DATA_FINGERPRINT) for r in latest}
    fingerprints = {**newest_data, **(fingerprints or {})}
    matching = [r for r in latest if r.get(F.PROTOCOL_HASH) == protocol_hash
                and r.get(F.DATA_FINGERPRINT) == fingerprints[r[F.SUBSET]]]
    row_configs = [row_config(row) for row in matching]
    lines = [(row[F.MODEL], variant(row), row[F.SUBSET]) for row in matching]
    chosen: dict[tuple[str, str, str], str] = {}
    for line, configuration in zip(lines, row_configs):  # write order: the last one wins
        chosen[line] = configuration
    present: dict[tuple[str, str, str], set[str]] = {}
    for line, configuration in zip(lines, row_configs):
        present.setdefault(line, set()).add(configuration)
    for line, configurations in present.items():
        named = (configs or {}).get((line[0], line[2]), [])
        with_rows = [c for c in named if c in configurations]
        if with_rows:  # the most recently asked-for configuration that has rows of this variant here
            chosen[line] = with_rows[-1]
    return [row for row, line, c in zip(matching, lines, row_configs) if c == chosen[line]]


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



__all__ = ["current_rows", "row_config", "study_rows", "configs_from", "remember_configs"]
