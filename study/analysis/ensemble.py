"""The study's own ensemble: combine models' predictions with weights chosen on validation
engines only, then score the combination once on the test engines.

``python -m study.ensemble RUN_DIR`` reads a run folder's rows, and for each (variant, subset,
seed) combines the models' trials of that seed (so the ensemble's spread over seeds is
comparable with any model's) and of that variant (``study.records.rows.variant``: the tuned models
are combined with each other, the out-of-the-box ones with each other, never across), appends
one row per method to ``trials.jsonl`` and rebuilds the tables.

Two well-known ways to choose weights, both from the members' validation predictions alone:
- ``greedy`` (the ``ensemble`` row): Caruana et al. (2004) ensemble selection with
  replacement, as AutoGluon's weighted ensemble does: start empty, and in each of ``rounds``
  rounds add the member (repeats allowed) that most lowers the validation RMSE of the running
  average; a member's weight is the share of rounds it was picked.
- ``nnls`` (the ``ensemble-nnls`` row): a non-negative least-squares stack (no intercept).

Test labels are only read to score the combined prediction, after its weights are final;
the weights are a pure function of the members' predictions for the cut validation engines
(``study.data.validation``: engine-disjoint validation engines cut short as test engines are) and
their training-derived truth. A caveat the report states: members that early-stop or select on the
validation engines (our networks, XGBoost, AutoGluon) saw those engines' labels while training,
so their validation predictions are slightly optimistic; the test score is not affected.
"""
from __future__ import annotations

import argparse
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from study.core.cli import add_debug_option, check_list, comma_list, main_guarded
from study.core.errors import StudyError
from study.core.lock import run_folder_lock
from study.data.scoring import rmse, score_predictions
from study.execution.trial import float32_precision
from study.records.keys import digest
from study.records.rows import DataIdentity, RowIdentity, TrialRow, trial_row, variant
from study.records.rows import Field as F
from study.records.run_folder import load_run
from study.records.selection import configs_from, row_config, select
from study.records.store import ResultStore
from study.records.tables import write_tables

METHODS = {"greedy": "ensemble", "nnls": "ensemble-nnls"}
ENSEMBLE_MODELS = frozenset(METHODS.values())
DEFAULT_ROUNDS = 25  # AutoGluon's default ensemble size


def greedy_weights(preds: np.ndarray, truth: np.ndarray, rounds: int = DEFAULT_ROUNDS) -> np.ndarray:
    """Caruana ensemble selection with replacement. ``preds``: (members, cut engines). Ties go to the
    earlier member, so the result is deterministic."""
    preds, truth = np.asarray(preds, float), np.asarray(truth, float)
    if rounds < 1:
        raise ValueError("rounds must be at least 1")
    counts = np.zeros(len(preds))
    running = np.zeros(preds.shape[1])
    for step in range(1, rounds + 1):
        candidates = (running * (step - 1) + preds) / step  # (members, cut engines): the average if each were added
        errors = np.sqrt(((candidates - truth) ** 2).mean(axis=1))
        best = int(np.argmin(errors))
        counts[best] += 1
        running = candidates[best]
    return counts / rounds


def nnls_weights(preds: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Non-negative least squares of the truth on the members' predictions (no intercept)."""
    from scipy.optimize import nnls

    weights, _ = nnls(np.asarray(preds, float).T, np.asarray(truth, float))
    return weights


def choose_weights(method: str, preds: np.ndarray, truth: np.ndarray, rounds: int = DEFAULT_ROUNDS) -> np.ndarray:
    if method == "greedy":
        return greedy_weights(preds, truth, rounds)
    if method == "nnls":
        return nnls_weights(preds, truth)
    raise StudyError(f"Unknown ensemble method {method!r}; valid: {', '.join(METHODS)}.")


def _has_valid_predictions(row: dict[str, Any]) -> bool:
    return (row.get(F.STATUS) == "ok" and bool(row.get(F.VALID_Y_PRED))
            and row[F.MODEL] not in ENSEMBLE_MODELS)


def _aligned(rows: Sequence[dict[str, Any]], ids_field: tuple[str, ...], pred_field: str) -> tuple[list, np.ndarray]:
    """Members' predictions as (members, items) over the items every member predicted."""
    maps = [dict(zip(zip(*(row[f] for f in ids_field)), row[pred_field])) for row in rows]
    common = sorted(set.intersection(*(set(m) for m in maps)))
    return common, np.array([[m[i] for i in common] for m in maps], dtype=float)


#: What an ensemble row says it is, in place of an adapter's tags.
ENSEMBLE_TAGS = {"library": "study", "family": "Ensemble", "formulation": "ensemble"}


def combine(members: Sequence[dict[str, Any]], method: str, max_rul: float,
            rounds: int = DEFAULT_ROUNDS) -> TrialRow:
    """One ensemble row from the rows of one (subset, seed): weights from the cut validation engines,
    then the weighted test prediction, scored like any trial. Built by the rows' one constructor
    (``trial_row``), so it carries a schema version, versions and machine like a trial's."""
    members = sorted(members, key=lambda r: r[F.MODEL])
    subset, seed = members[0][F.SUBSET], members[0][F.SEED]
    for field in (F.PROTOCOL_HASH, F.DATA_FINGERPRINT):
        if len({r.get(field) for r in members}) > 1:
            raise StudyError(f"{subset} seed {seed}: members differ in {field}; they are not from one study.")
    cut_ids, valid_preds = _aligned(members, (F.VALID_UNITS, F.VALID_CYCLES), F.VALID_Y_PRED)
    truths = [dict(zip(zip(r[F.VALID_UNITS], r[F.VALID_CYCLES]), r[F.VALID_Y_TRUE])) for r in members]
    if not cut_ids or any(t[i] != truths[0][i] for t in truths for i in cut_ids):
        raise StudyError(f"{subset} seed {seed}: the members' cut validation engines do not match.")
    valid_truth = np.array([truths[0][i] for i in cut_ids], dtype=float)
    weights = choose_weights(method, valid_preds, valid_truth, rounds)
    # the test side: predictions combined with the final weights; the truth is read only to score
    units, test_preds = _aligned(members, (F.UNITS,), F.Y_PRED)
    test_truth = dict(zip(members[0][F.UNITS], members[0][F.Y_TRUE]))
    y_true = np.array([test_truth[u] for (u,) in units], dtype=float)
    # stored as the trials' predictions are (float32, shortest decimals) and scored as stored
    y_pred = float32_precision(np.clip(weights @ test_preds, 0, None))
    valid_pred = float32_precision(weights @ valid_preds)
    name = METHODS[method]
    chosen = {r[F.MODEL]: float(w) for r, w in zip(members, weights) if w > 0}
    params = {"method": method, "rounds": rounds if method == "greedy" else None,
              "members": [r[F.MODEL] for r in members]}
    # an ensemble of tuned members is tuned too (the variant is derived from this link): the
    # link names each member's tuning study, and the budget point its members were read at
    # (members of one budget variant: the ensemble is of that variant, tuned-10m...)
    tuning = ({"members": {r[F.MODEL]: (r[F.TUNING] or {}).get("study_id") for r in members}}
              if all(r.get(F.TUNING) for r in members) else None)
    points = {(r.get(F.TUNING) or {}).get("budget_point_s") for r in members}
    if tuning is not None and len(points) == 1 and None not in points:
        tuning["budget_point_s"] = points.pop()
    identity = RowIdentity(
        model=name, subset=subset, seed=seed, params=params, tuning=tuning, profile=members[0].get(F.PROFILE),
        key=digest([name, params, sorted(r[F.KEY] for r in members)]),
        config=digest([name, params, subset, sorted(row_config(r) for r in members)]))
    data = DataIdentity(members[0].get(F.PROTOCOL_HASH), members[0].get(F.DATA_FINGERPRINT),
                        all(r.get(F.DATA_VERIFIED, True) for r in members))
    return trial_row(
        identity, data, ENSEMBLE_TAGS, "ok", None, **score_predictions(y_true, y_pred, max_rul),
        # the cost of an ensemble is the cost of training and running all its members
        fit_seconds=_total(members, F.FIT_SECONDS), predict_seconds=_total(members, F.PREDICT_SECONDS),
        wall_seconds=_total(members, F.WALL_SECONDS), n_test_engines=len(units), n_parameters=None,
        info={"weights": chosen, "valid_rmse": rmse(valid_truth, valid_pred),
              "member_valid_rmse": {r[F.MODEL]: rmse(valid_truth, p) for r, p in zip(members, valid_preds)},
              "member_keys": {r[F.MODEL]: r[F.KEY] for r in members}, "n_valid_cuts": len(cut_ids)},
        units=[u for (u,) in units], y_true=y_true.tolist(), y_pred=y_pred.tolist(),
        valid_units=[u for u, _ in cut_ids], valid_cycles=[c for _, c in cut_ids],
        valid_y_true=valid_truth.tolist(), valid_y_pred=valid_pred.tolist(),
        valid_in_sample=True,  # the ensemble's own validation error is where its weights were fitted
    )


def _total(members: Sequence[dict[str, Any]], name: str) -> float:
    """A cost summed over the members (a member that did not record it counts 0)."""
    return float(sum(r.get(name) or 0 for r in members))


def ensemble_rows(rows: Iterable[dict[str, Any]], methods: Sequence[str] = ("greedy", "nnls"),
                  members: Sequence[str] | None = None, max_rul: float = 125,
                  rounds: int = DEFAULT_ROUNDS, notify: Callable[[str], None] = lambda message: None
                  ) -> list[dict[str, Any]]:
    """Ensemble rows for every (variant, subset, seed) where at least two members have cut
    validation engines; members of one variant only (one row per model in each group). A
    group that lacks a model its variant has elsewhere is not combined yet (``notify`` says
    so): a variant's ensembles choose from the same members on every subset and seed, so a
    run scored pair by pair (the budget curves) never stores an ensemble of whoever was done."""
    groups: dict[tuple[str, str, int], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        if _has_valid_predictions(row) and (members is None or row[F.MODEL] in members):
            groups[variant(row), row[F.SUBSET], row[F.SEED]].append(row)
    pool: dict[str, set[str]] = defaultdict(set)
    for (kind, _, _), group in groups.items():
        pool[kind].update(r[F.MODEL] for r in group)
    out = []
    for (kind, subset, seed), group in sorted(groups.items()):
        if len({r[F.MODEL] for r in group}) != len(group):
            raise StudyError(f"{subset} seed {seed}: several rows of one model and variant; the run's tables "
                             "should show one configuration per model, variant and subset.")
        if len({r[F.MODEL] for r in group}) < 2:
            continue
        lacking = sorted(pool[kind] - {r[F.MODEL] for r in group})
        if lacking:
            notify(f"{subset} {kind} seed {seed}: not combined yet, it lacks {', '.join(lacking)}, which the "
                   f"{kind} rows have on other subsets or seeds (score them first, or choose with --members).")
            continue
        for method in methods:
            out.append(combine(group, method, max_rul, rounds))
    return out


def add_ensembles(run_dir: Path, methods: Sequence[str] = ("greedy", "nnls"), members: Sequence[str] | None = None,
                  rounds: int = DEFAULT_ROUNDS, notify: Callable[[str], None] = print) -> list[dict[str, Any]]:
    """Append a run folder's ensemble rows (those not already stored) and rebuild its tables."""
    rows, info = load_run(run_dir)
    _check_members(members, rows, run_dir)
    max_rul = info.get("protocol", {}).get("max_rul", 125)
    new = ensemble_rows(rows, methods, members, max_rul, rounds, notify=notify)
    if not new:
        raise StudyError(f"{run_dir}: no (subset, seed) has two models with validation predictions; rows "
                         "written before cut validation engines were stored cannot be combined (rerun with --force).")
    store = ResultStore(Path(run_dir))
    stored = store.latest_by_key()
    appended = [store.append(row) for row in new if row[F.KEY] not in stored]
    # the tables from the rows already read plus the new ones (no second read of the store)
    selection = select(rows + appended, info.get("protocol_hash"), configs=configs_from(info))
    shown = selection.apply(rows + appended)
    write_tables(Path(run_dir), shown, unverified=not info.get("data_verified", True), selection=selection)
    return appended or [stored[row[F.KEY]] for row in new]


def _check_members(members: Sequence[str] | None, rows: Sequence[dict[str, Any]], run_dir: Path) -> None:
    """``--members`` must name models of this run, each once: a misspelled name would silently
    leave its model out of every ensemble, and an empty list would silently mean all."""
    check_list("--members", members)
    models = sorted({row[F.MODEL] for row in rows if row[F.MODEL] not in ENSEMBLE_MODELS})
    unknown = [name for name in members or () if name not in models]
    if unknown:
        raise StudyError(f"--members names {', '.join(unknown)}, which {run_dir} has no rows of; "
                         f"models in this run: {', '.join(models)}.")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m study.ensemble",
        description="Combine a run's models with weights chosen on cut validation engines only; score once on test.")
    parser.add_argument("run_dir", type=Path, help="a run folder written by python -m study.run")
    parser.add_argument("--method", choices=[*METHODS, "both"], default="both",
                        help="greedy (Caruana ensemble selection), nnls (stack), or both (default)")
    parser.add_argument("--members", type=comma_list,
                        help="comma-separated models of the run to choose from (default: every model with "
                             "validation predictions)")
    parser.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS, help="greedy selection rounds (default 25)")
    add_debug_option(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return main_guarded(lambda: _ensemble(args), args.debug)


def _ensemble(args: argparse.Namespace) -> int:
    methods = list(METHODS) if args.method == "both" else [args.method]
    check_list("--members", args.members)
    if args.rounds < 1:
        raise StudyError(f"--rounds must be at least 1 (got {args.rounds}).")
    if not args.run_dir.is_dir():
        raise StudyError(f"{args.run_dir} is not a run folder; give one written by python -m study.run.")
    with run_folder_lock(args.run_dir):  # it appends rows: one writer at a time
        rows = add_ensembles(args.run_dir, methods, args.members, args.rounds)
    for row in sorted(rows, key=lambda r: (r[F.SUBSET], r[F.MODEL], r[F.SEED])):
        weights = ", ".join(f"{m} {w:.2f}" for m, w in sorted(row[F.INFO]["weights"].items(), key=lambda x: -x[1]))
        print(f"{row[F.MODEL]} {row[F.SUBSET]} seed {row[F.SEED]}: test RMSE {row[F.RMSE]:.2f}  "
              f"(validation {row[F.INFO]['valid_rmse']:.2f}; weights: {weights})")
    return 0
