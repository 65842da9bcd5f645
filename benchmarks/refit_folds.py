"""Does refitting on training + validation engines help? Measured on validation folds only.

For each engine-disjoint fold of a subset's training file (``study.tuning.folds``: block k is
held out, never trained on), the fold's other engines are split again, by engine, into inner
training and inner validation engines (the protocol's 20%, its split seed), with the scaler
fitted on the inner training engines only, exactly as ``study.data.protocol.prepare`` treats a
study's training file. The model is fitted on the inner training engines, selecting on the
inner validation engines (early stopping); then ``study.execution.trial.refit`` refits it on inner
training + inner validation engines with the selected count, as a study trial with
``--refit`` does. Both models predict the held-out engines cut as test engines are
(``study.data.validation``), and both are scored on the capped truth. The test and RUL files are
never read (``study.tuning.folds`` opens the training file alone).

    python benchmarks/refit_folds.py --models xgboost,lstm --subsets FD001,FD003 \
        --seeds xgboost=2,lstm=1 --out runs/refit_folds.jsonl
    python benchmarks/refit_folds.py --summarise runs/refit_folds.jsonl

Results are appended as JSON lines, one per (model, subset, fold, seed); a rerun skips the
ones already in ``--out``. Everything runs on one thread (``--threads``).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from study.contract.registry import get_adapter  # noqa: E402
from study.data.cmapss import OPERATING_CONDITIONS, SETTING_COLUMNS  # noqa: E402
from study.data.protocol import PreparedSubset, Protocol, _engine_set, _Normaliser, split_engines  # noqa: E402
from study.data.scoring import rmse  # noqa: E402
from study.data.validation import cut_engines  # noqa: E402
from study.execution.trial import TrialSpec, refit, seed_everything  # noqa: E402
from study.tuning.folds import TrainingFile, load_training, locate_training, validation_blocks  # noqa: E402



def inner_fold(training: TrainingFile, protocol: Protocol, fold: int) -> tuple[PreparedSubset, np.ndarray]:
    """Fold ``fold``: inner training and inner validation engines from the engines outside
    block ``fold`` (split by engine, scaler on inner training engines only), and block
    ``fold`` cut as test engines, with its raw truth (from training labels)."""
    frame = training.frame
    units = frame["unit"].unique()
    held_out = validation_blocks(units, protocol)[fold]
    rest = np.setdiff1d(units, held_out)
    inner_train, inner_valid = split_engines(rest, protocol.validation_fraction, protocol.split_seed)
    rows = {name: frame[frame["unit"].isin(ids)]
            for name, ids in (("train", inner_train), ("valid", inner_valid), ("held_out", held_out))}
    multi = OPERATING_CONDITIONS[training.subset] > 1 and protocol.condition_normalisation == "auto"
    norm = _Normaliser(OPERATING_CONDITIONS[training.subset] if multi else 1, protocol.split_seed).fit(
        rows["train"][list(SETTING_COLUMNS)].to_numpy(), rows["train"][list(protocol.channels)].to_numpy())
    sets = {name: _engine_set(part, training.subset, protocol, norm, labelled=True) for name, part in rows.items()}
    cut = cut_engines(sets["held_out"])
    prepared = PreparedSubset(name=training.subset, train=sets["train"], valid=sets["valid"], test=cut.engines,
                              protocol_hash=protocol.hash(), data_fingerprint=training.fingerprint,
                              verified=training.verified)
    return prepared, cut.truth


def measure(model: str, profile: str, prepared: PreparedSubset, truth: np.ndarray, seed: int, threads: int,
            max_rul: float) -> dict[str, Any]:
    """One fit with selection, its refit, and both scored on the held-out cut engines."""
    cls = get_adapter(model)
    params = cls.params_for(profile, prepared.name)
    spec = TrialSpec(model, prepared.name, seed, params, threads=threads, refit=True)
    started = time.perf_counter()
    seed_everything(seed)
    selected = cls(seed=seed, **params)
    selected.context.threads = threads
    selected.fit(prepared.train, prepared.valid)
    capped = np.minimum(truth, max_rul)
    rmse_selected = rmse(capped, selected.predict(prepared.test))
    final, fields = refit(selected, spec, prepared, started)
    rmse_refit = rmse(capped, final.predict(prepared.test))
    count = {k: v for k, v in (fields["refit_params"] or {}).items() if k in ("n_estimators", "epochs")}
    return {"rmse_selected": rmse_selected, "rmse_refit": rmse_refit, "refit_count": count,
            "refit_reason": fields["refit_reason"], "selection_fit_seconds": fields["selection_fit_seconds"],
            "refit_fit_seconds": fields["refit_fit_seconds"],
            "inner_valid_rmse": selected.info_.get("best_valid_rmse"),
            "n_inner_train": len(prepared.train), "n_inner_valid": len(prepared.valid),
            "n_held_out_cuts": len(prepared.test)}


def run(args: argparse.Namespace) -> None:
    protocol = Protocol()
    seeds = dict(item.split("=") for item in args.seeds.split(","))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    done = set()
    if out.is_file():
        done = {(r["model"], r["profile"], r["subset"], r["fold"], r["seed"])
                for r in map(json.loads, out.read_text().splitlines())}
    folder = locate_training(args.data_dir, args.subsets, offline=True)
    for subset in args.subsets:
        training = load_training(folder, subset)
        for fold in range(args.folds):
            prepared, truth = inner_fold(training, protocol, fold)
            for model in args.models:
                for seed in range(args.first_seed, int(seeds.get(model, 1))):
                    if (model, args.profile, subset, fold, seed) in done:
                        continue
                    result = {"model": model, "subset": subset, "fold": fold, "seed": seed, "profile": args.profile,
                              **measure(model, args.profile, prepared, truth, seed, args.threads, protocol.max_rul),
                              "load_1min": round(os.getloadavg()[0], 2)}
                    with out.open("a") as handle:
                        handle.write(json.dumps(result) + "\n")
                    print(f"{model} {subset} fold {fold} seed {seed}: selected {result['rmse_selected']:.2f}, "
                          f"refit {result['rmse_refit']:.2f} ({result['refit_count']}), fits "
                          f"{result['selection_fit_seconds']:.0f} s + {result['refit_fit_seconds'] or 0:.0f} s",
                          flush=True)


def summarise(path: Path) -> str:
    """The markdown table: mean RMSE per (model, subset) without and with refit, the mean
    difference, and each fold's difference (mean over seeds; negative: refit better)."""
    import pandas as pd

    frame = pd.DataFrame([json.loads(line) for line in Path(path).read_text().splitlines()])
    frame["delta"] = frame["rmse_refit"] - frame["rmse_selected"]
    lines = ["| model | profile | subset | seeds | RMSE selected | RMSE refit | refit - selected | per fold (0, 1, 2, ...) "
             "| fit s (selection + refit) |", "|---|---|---|---|---|---|---|---|---|"]
    for (model, profile, subset), part in frame.groupby(["model", "profile", "subset"], sort=True):
        per_fold = part.groupby("fold")["delta"].mean()
        lines.append(
            f"| {model} | {profile} | {subset} | {part['seed'].nunique()} | {part['rmse_selected'].mean():.2f} | "
            f"{part['rmse_refit'].mean():.2f} | {part['delta'].mean():+.2f} | "
            f"{', '.join(f'{d:+.2f}' for d in per_fold)} | "
            f"{part['selection_fit_seconds'].mean():.0f} + {part['refit_fit_seconds'].mean():.0f} |")
    lines.append("")
    for (model, profile), part in frame.groupby(["model", "profile"], sort=True):
        folds = part.groupby(["subset", "fold"])["delta"].mean()  # one number per fold: seeds averaged
        error = folds.std(ddof=1) / np.sqrt(len(folds)) if len(folds) > 1 else float("nan")
        lines.append(f"- {model} ({profile}): refit lowered the held-out RMSE in {int((folds < 0).sum())} of "
                     f"{len(folds)} folds; mean difference {folds.mean():+.2f} +- {error:.2f} (standard error over "
                     f"folds), median {folds.median():+.2f}.")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="xgboost,lstm", type=lambda s: s.split(","))
    parser.add_argument("--subsets", default="FD001,FD003", type=lambda s: s.split(","))
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--seeds", default="xgboost=2,lstm=1", help="MODEL=N,... seeds per model (default 1)")
    parser.add_argument("--first-seed", type=int, default=0, help="start at this seed (add seeds to a results file)")
    parser.add_argument("--profile", default="default", help="the adapters' parameter profile (default: default)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--data-dir", type=Path)
    parser.add_argument("--out", default="runs/refit_folds.jsonl")
    parser.add_argument("--summarise", type=Path, metavar="FILE", help="print the table of a results file and exit")
    args = parser.parse_args()
    if args.summarise:
        print(summarise(args.summarise))
    else:
        run(args)


if __name__ == "__main__":
    main()
