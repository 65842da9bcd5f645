"""Numbers in prose that come from a run, never typed by hand.

Two kinds of marker in a markdown file (the writeup, the blog post):
- ``<!-- table:NAME -->`` ... ``<!-- /table -->``: a whole table from ``study.publishing.report.build_tables``;
- ``<!-- value:NAME -->12.83<!-- /value -->``: one number or name inline, looked up by
  ``RunValues`` (``rmse/transformer/FD001``, ``diff/transformer@tuned/FD003/lstm@default``, ...).
``python -m study.report RUN --writeup FILE`` refreshes both; an unknown value name is an error,
so a typo cannot leave a stale number behind. ``unmarked_numbers`` lists the decimals a text
states outside any marker, so a test can insist that every result in a post comes from the run.
"""
from __future__ import annotations

from collections.abc import Callable

import re
from pathlib import Path
from typing import Any

import pandas as pd

from study.core.errors import StudyError
from study.core.markdown import TABLE
from study.publishing.views import display_name

VALUE = re.compile(r"(<!-- value:(?P<name>[\w./+@:-]+) -->)(?P<body>[^<]*)(<!-- /value -->)")
DECIMAL = re.compile(r"(?<![\w.])[-+−]?\d+\.\d+(?![\w.])")
#: any number a sentence states: 48, 5.85, 2,000, -0.55 (not FD001, 1e-3, d_model or a file name)
_START = r"(?<![\w.])(?<![A-Za-z]-)(?<!\de-)[-+−]?\d[\d,]*(?:\.\d+)?"
NUMBER = re.compile(_START + r"(?![\w.])|" + _START + r"(?=\.(?!\w))")
#: FileValues' sweep kinds: a change in validation RMSE smaller than this counts as level
LEVEL = 0.02
SWEEP_KINDS = ("sweep-gain", "sweep-mean-gain", "sweep-count", "sweep-mean")
TRIAL_KINDS = ("valid", "valid-range", "valid-spread", "train-rmse", "pred-gap")


class RunValues:
    """Named numbers of one run: ``KIND/MODEL/SUBSET`` or ``KIND/SUBSET`` or ``KIND/MODEL``.

    - ``rmse``, ``std``, ``score``, ``fit`` (seconds), ``seeds`` of a (model, subset);
    - ``diff``, ``ci``, ``verdict`` of a model against a baseline on a subset, engine by engine
      (``study.compare``): ``diff/MODEL/SUBSET`` against the run's baseline model,
      ``diff/MODEL/SUBSET/BASELINE`` against any other (``diff/transformer@tuned/FD001/lstm@default``);
    - ``vs-best``, ``ci-best``, ``verdict-best``: the same against the subset's best single (not
      ensemble) model of the model's own variant (``vs-best/ensemble@tuned/FD001``);
    - ``best``, ``best-rmse`` of a subset (``best/FD001``), or of one variant (``best/FD001/tuned``);
      ``best-single/SUBSET[/VARIANT]``: the best model that is not an ensemble; ``best-name`` and
      ``best-single-name``: the same in a reader's words (``study.publishing.views.display_name``);
      ``mean-rmse``, ``mean-fit`` of a model over subsets;
    - ``params/MODEL/SUBSET``: the network's trainable parameters (``42,753``);
    - ``rmse-ci/MODEL/SUBSET``: the RMSE's own 95% interval over the test engines (``10.40 to 15.12``);
    - ``late/MODEL/CYCLES``, ``early/MODEL/CYCLES``: the share of the model's test engines (every
      subset and seed; ``/SUBSET`` after CYCLES for one subset) predicted more than CYCLES late
      (more remaining life than the capped truth) or early, as a percentage (``6%``;
      ``study.data.scoring.miss_share``);
    - ``avg-rank/MODEL[/VARIANT]``: the model's average rank over subsets (1 = lowest RMSE), among
      every row as the rank table ranks them, or among one variant's rows only
      (``avg-rank/transformer@hand-tuned/hand-tuned``); ``best-rank[-name]/[VARIANT]``: the
      model with the lowest average rank; ``firsts/MODEL[/VARIANT]``: on how many of the ranked
      subsets the model ranks first (the lowest RMSE, alone), among the same rows (``3 of 4``);
    - ``count/WHAT/MODEL[/BASELINE]`` and ``where/WHAT/MODEL[/BASELINE]``: on how many subsets
      (``2 of 4``) and on which (``FD002 and FD004``, ``none``) the model compared engine by
      engine with a baseline (as ``diff``; ``best``: the subset's best single model of its own
      variant, as ``vs-best``) is ``below``/``above`` it (the sign of the difference) or
      ``lower``/``higher``/``unresolved`` (the verdict: beyond the test engines' noise or not);
    - ``evaluations/MODEL[/SUBSET]``: the tuning evaluations that finished within the budget
      (the journal's evaluations less failed ones: the one the budget cut off), over subsets as
      a range (``1 to 2``); needs the run's tuning table (``study.tuning_summary``);
      ``tuning-hours``: what the whole tuning charged, in hours of one core;
    - ``seed-gap/MODEL[/SUBSET]``: the largest difference, in cycles, between two seeds'
      predictions of one test engine (``0.00``: the seeds are identical reruns);
    - ``gain/MODEL[/SUBSET]``: how much the tuning lowered the validation RMSE against the
      out-of-the-box configuration (one decimal; over subsets as a range), from the tuning table;
    - ``seed-rmse/MODEL/SUBSET/SEED``, ``seed-min/MODEL/SUBSET``, ``seed-max/MODEL/SUBSET``: one
      seed's test RMSE (from its predictions, on the capped truth), the lowest and the highest;
      ``seed-diff``, ``seed-ci`` ``/MODEL/SUBSET/OTHER/SEED``: as ``diff`` and ``ci``, against one
      seed of another model alone; ``seed-count/WHAT/MODEL/SUBSET/OTHER``: against how many of
      OTHER's seeds, each alone (as ``seed-diff``), the model is ``below``/``above`` or
      ``lower``/``higher``/``unresolved`` (as ``count``): ``2 of 3``;
    - ``fit-ratio/MODEL/OTHER``: the model's mean fit time over subsets as a multiple of the
      other's (``1.8``); ``engines[/SUBSET]``: test engines of a subset, or over subsets as a range;
    - ``band/MODEL/SUBSET/LOW-HIGH``: the RMSE (one decimal, every seed pooled) on the test
      engines whose true RUL is in (LOW, HIGH] (``0-50`` includes 0; ``125-up``: above 125);
    - ``crossing/MODEL/SUBSET``: the smallest tuning budget at which the model's budget curve
      passes the baseline's at the same budget (``30 minutes``, ``not within 60 minutes``;
      ``study.publishing.curves.crossings``); ``crossing-count/MODEL``: on how many subsets
      it does (``2 of 4``);
    - ``budget-evaluations/MODEL/MINUTES[/SUBSET]``: evaluations (complete or stopped early) a
      budget-curve tuning of that many minutes bought, over subsets as a range (``10 to 62``);
      ``budget-valid/MODEL/SUBSET/MINUTES``: the validation RMSE of the configuration it chose
      (``0``: out of the box); ``budget-hours``: what the curve tunings charged, in hours of one
      core; read from the journals the run's budget points link to;
    - ``run-minutes/START[+START...]``, ``run-trials/START``: the wall time in minutes (one
      decimal; summed over several) and the trial count of the run command that started at
      START (``2026-11-27T06:46``, a prefix of its ``started_at`` in ``run.json``: this run or
      one of its ``previous_runs``).

    Where a run holds several variants of a model (``study.records.rows.variant``: default, tuned,
    hand-tuned), MODEL names one as ``lstm@default``; a bare ``lstm`` is then an error, so a
    post can never cite the wrong one. ``best`` names the variant too: ``lstm (tuned)``. Without
    a named baseline, a model is compared with the baseline model's row of its own variant (equal
    effort); the baseline model itself, or a variant the baseline lacks, must name one.

    ``preds`` (``predictions_frame`` of ``distinct_models`` rows) lets any pair be compared on
    demand; ``comparison``: comparisons against the baseline already computed (reused as is).
    """

    def __init__(self, board: pd.DataFrame, comparison: pd.DataFrame | None = None, preds: pd.DataFrame | None = None,
                 max_rul: float = 125.0, baseline: str = "lstm", tuning: pd.DataFrame | None = None,
                 info: dict[str, Any] | None = None, budgets: pd.DataFrame | None = None):
        self.board = board if "variant" in board.columns else board.assign(variant="")
        self.preds, self.max_rul, self.baseline, self.tuning = preds, max_rul, baseline, tuning
        self.budgets = budgets
        self.info = info or {}
        self._comparisons: dict[str, pd.DataFrame] = {}
        if comparison is not None and len(comparison):
            named = comparison["baseline"].unique() if "baseline" in comparison.columns else [baseline]
            self._comparisons[named[0]] = comparison.set_index(["model", "subset"])

    def __call__(self, name: str) -> str:
        kind, *keys = name.split("/")
        try:
            return self._lookup(kind, keys)
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise StudyError(f"value marker {name!r} names nothing in this run ({exc}); kinds: rmse, std, score, "
                             "fit, seeds, rmse-ci (KIND/MODEL/SUBSET), diff, ci, verdict (KIND/MODEL/SUBSET[/BASELINE]), "
                             "vs-best, ci-best, verdict-best (KIND/MODEL/SUBSET), best, best-name, best-rmse, best-single(-name) "
                             "(KIND/SUBSET[/VARIANT]), mean-rmse, mean-fit (KIND/MODEL), params (KIND/MODEL/SUBSET), "
                             "late, early (KIND/MODEL/CYCLES[/SUBSET]), avg-rank, firsts (KIND/MODEL[/VARIANT]), "
                             "best-rank(-name) (KIND[/VARIANT]), count, where (KIND/WHAT/MODEL[/BASELINE|best]), evaluations, "
                             "seed-gap (KIND/MODEL[/SUBSET]), tuning-hours, gain (KIND/MODEL[/SUBSET]), seed-rmse "
                             "(KIND/MODEL/SUBSET/SEED), seed-min, seed-max (KIND/MODEL/SUBSET), seed-diff, seed-ci "
                             "(KIND/MODEL/SUBSET/OTHER/SEED), seed-count (KIND/WHAT/MODEL/SUBSET/OTHER), fit-ratio "
                             "(KIND/MODEL/OTHER), engines (KIND[/SUBSET]), band (KIND/MODEL/SUBSET/LOW-HIGH), "
                             "run-minutes, run-trials (KIND/START), crossing (KIND/MODEL/SUBSET), crossing-count "
                             "(KIND/MODEL), budget-evaluations (KIND/MODEL/MINUTES[/SUBSET]), budget-valid (KIND/MODEL/SUBSET/MINUTES), "
                             "budget-hours; "
                             "MODEL@VARIANT where a model has several.") from exc

    def _crossing(self, kind: str, keys: list[str]) -> str:
        """When a family's budget curve first passes the baseline's at the same budget
        (``study.publishing.curves.crossings``): ``30 minutes`` or ``not within 60 minutes``
        on one subset; on how many of the subsets both have curves it passes within the
        largest budget (``2 of 4``)."""
        from study.publishing.curves import crossings, curve_frame

        table = crossings(curve_frame(self.board), self.baseline)
        mine = table[table["model"] == keys[0]]
        if mine.empty:
            raise KeyError(f"no budget curve of {keys[0]} beside {self.baseline}'s")
        if kind == "crossing-count":
            if len(keys) != 1:
                raise ValueError("crossing-count names one model")
            return f"{int(mine['passes_after_minutes'].notna().sum())} of {len(mine)}"
        line = mine.set_index("subset").loc[keys[1]]
        if pd.notna(line["passes_after_minutes"]):
            return f"{line['passes_after_minutes']:g} minutes"
        return f"not within {line['longest_minutes']:g} minutes"

    def _budget(self, kind: str, keys: list[str]) -> str:
        """The budget curves' tunings read at their budget points (``study.tuning.summary.budget_table``)."""
        if self.budgets is None or self.budgets.empty:
            raise KeyError("no budget-curve tuning linked to this run")
        if kind == "budget-hours":
            if keys:
                raise ValueError("budget-hours takes no keys")
            return f"{self.budgets['spent_s'].sum() / 3600:.1f}"
        part = self.budgets[self.budgets["model"] == keys[0]]
        if kind == "budget-valid":  # MODEL/SUBSET/MINUTES: the incumbent's mean validation RMSE (0: the defaults)
            line = part.set_index("subset").loc[keys[1]]
            value = line["default_valid_rmse"] if float(keys[2]) == 0 else line[f"valid_{float(keys[2]):g}m"]
            if value is None or pd.isna(value):
                raise ValueError(f"{keys[0]} on {keys[1]} has no incumbent at {keys[2]} minutes yet")
            return f"{value:.2f}"
        column = f"evaluations_{float(keys[1]):g}m"  # MODEL/MINUTES[/SUBSET]: evaluations a tuning of that budget bought
        if len(keys) > 2:
            part = part[part["subset"] == keys[2]]
        counts = part[column] if column in part.columns else pd.Series(dtype=float)
        if part.empty or counts.isna().any() or counts.empty:
            raise KeyError(f"no finished budget of {keys[1]} minutes for {'/'.join([keys[0], *keys[2:]])}")
        low, high = int(counts.min()), int(counts.max())
        return f"{low}" if low == high else f"{low} to {high}"

    def _rows(self, spec: str) -> pd.DataFrame:
        """The board's lines of one model (``lstm``) or one variant of it (``lstm@tuned``)."""
        model, _, kind = spec.partition("@")
        part = self.board[self.board["model"] == model]
        if kind:
            part = part[part["variant"] == kind]
        elif part["variant"].nunique() > 1:
            raise ValueError(f"{model} has several variants here; name one: "
                             + ", ".join(f"{model}@{v}" for v in sorted(part["variant"].unique())))
        if part.empty:
            raise KeyError(spec)
        return part

    def _line(self, spec: str) -> pd.Series:
        return self._rows(spec).iloc[0]

    def _label(self, model: str, kind: str) -> str:
        """The name a model has in ``distinct_models`` rows: ``lstm (tuned)`` where it has several variants."""
        several = self.board[self.board["model"] == model]["variant"].nunique() > 1
        return f"{model} ({kind})" if several else model

    def _baseline_for(self, line: pd.Series, named: str | None) -> str:
        """The label of the baseline a model's line is compared with (see the class docstring)."""
        if named:
            return self._label(*self._line(named)[["model", "variant"]])
        kinds = set(self.board[self.board["model"] == self.baseline]["variant"])
        if len(kinds) <= 1 and line["model"] != self.baseline:
            return self.baseline
        if line["model"] == self.baseline or line["variant"] not in kinds:
            raise ValueError(f"name the baseline to compare {line['model']} ({line['variant']}) with, e.g. "
                             f"{self.baseline}@{sorted(kinds)[0]}")
        return self._label(self.baseline, line["variant"])

    def _best_single(self, subset: str, kind: str | None) -> str:
        """The label of a subset's lowest-RMSE model that is not an ensemble (of one variant)."""
        part = self.board[(self.board["subset"] == subset) & self.board["rmse"].notna()
                          & ~self.board["model"].str.startswith("ensemble")]
        if kind is not None:
            part = part[part["variant"] == kind]
        best = part.sort_values("rmse").iloc[0]
        return self._label(best["model"], best["variant"])

    def _comparison(self, baseline: str, label: str | None = None) -> pd.DataFrame:
        """Comparisons against ``baseline``; recomputed for every model when the one given
        (``comparison``, say the tuned rows only) lacks ``label``."""
        known = self._comparisons.get(baseline)
        if known is not None and label is not None and label not in known.index.get_level_values(0) \
                and self.preds is not None:
            del self._comparisons[baseline]
        if baseline not in self._comparisons:
            if self.preds is None:
                raise KeyError(f"no comparison with {baseline}")
            from study.analysis.compare import compare_to_baseline  # the bootstrap, only for runs that cite it

            self._comparisons[baseline] = compare_to_baseline(self.preds, baseline, self.max_rul).set_index(
                ["model", "subset"])
        return self._comparisons[baseline]

    def _lookup(self, kind: str, keys: list[str]) -> str:
        columns = {"rmse": ("rmse", "{:.2f}"), "std": ("rmse_std", "{:.2f}"), "score": ("score", "{:.0f}"),
                   "fit": ("fit_seconds", "{:.0f}"), "seeds": ("n_seeds", "{:.0f}")}
        if kind in columns:
            column, fmt = columns[kind]
            value = self._rows(keys[0]).set_index("subset").loc[keys[1], column]
            if pd.isna(value):
                raise ValueError(f"{keys[0]} has no {column} on {keys[1]}")
            return fmt.format(value)
        if kind == "rmse-ci":  # the test RMSE's own 95% interval over the engines (not paired)
            row = self._rows(keys[0]).set_index("subset").loc[keys[1]]
            return f"{row['rmse_ci_low']:.2f} to {row['rmse_ci_high']:.2f}"
        if kind == "params":
            value = self._rows(keys[0]).set_index("subset").loc[keys[1], "n_parameters"]
            if pd.isna(value):
                raise ValueError(f"{keys[0]} records no parameter count on {keys[1]}")
            return f"{int(value):,}"
        if kind in ("late", "early"):
            from study.data.scoring import miss_share

            if self.preds is None:
                raise KeyError("no predictions to count misses in")
            line = self._line(keys[0])
            part = self.preds[self.preds["model"] == self._label(line["model"], line["variant"])]
            if len(keys) > 2:
                part = part[part["subset"] == keys[2]]
            if part.empty:
                raise KeyError(f"no predictions of {keys[0]}" + (f" on {keys[2]}" if len(keys) > 2 else ""))
            return f"{100 * miss_share(part['y_true'], part['y_pred'], self.max_rul, float(keys[1]), kind):.0f}%"
        if kind in ("diff", "ci", "verdict", "vs-best", "ci-best", "verdict-best"):
            line = self._line(keys[0])
            if kind.endswith("best"):  # against the subset's best single model of the same variant
                baseline = self._best_single(keys[1], line["variant"])
            else:
                baseline = self._baseline_for(line, keys[2] if len(keys) > 2 else None)
            label = self._label(line["model"], line["variant"])
            row = self._comparison(baseline, label).loc[(label, keys[1])]
            diff, ci = f"{row['difference']:+.2f}", f"{row['ci_low']:+.2f} to {row['ci_high']:+.2f}"
            return {"diff": diff, "vs-best": diff, "ci": ci, "ci-best": ci,
                    "verdict": str(row["verdict"]), "verdict-best": str(row["verdict"])}[kind]
        if kind in ("best-single", "best-single-name"):
            label = self._best_single(keys[0], keys[1] if len(keys) > 1 else None)
            return display_name(label, self.baseline) if kind.endswith("-name") else label
        if kind in ("crossing", "crossing-count"):
            return self._crossing(kind, keys)
        if kind in ("budget-evaluations", "budget-valid", "budget-hours"):
            return self._budget(kind, keys)
        ok = self.board[self.board["rmse"].notna()]
        if kind in ("best", "best-name", "best-rmse"):
            part = ok[ok["subset"] == keys[0]]
            if len(keys) > 1:
                part = part[part["variant"] == keys[1]]
            best = part.sort_values("rmse").iloc[0]
            label = self._label(best["model"], best["variant"])
            return {"best": label, "best-name": display_name(label, self.baseline),
                    "best-rmse": f"{best['rmse']:.2f}"}[kind]
        if kind in ("mean-rmse", "mean-fit"):
            part = self._rows(keys[0])
            part = part[part["rmse"].notna()]
            if part.empty or part["subset"].nunique() != ok["subset"].nunique():
                raise ValueError(f"{keys[0]} does not have results on every subset")
            return f"{part['rmse'].mean():.2f}" if kind == "mean-rmse" else f"{part['fit_seconds'].mean():.0f}"
        if kind in ("avg-rank", "best-rank", "best-rank-name"):
            table = self._ranks(keys[1] if kind == "avg-rank" and len(keys) > 1 else
                                keys[0] if kind != "avg-rank" and keys and keys[0] else None)
            if kind != "avg-rank":
                label = table.index[0]
                return display_name(label, self.baseline) if kind.endswith("-name") else label
            line = self._line(keys[0])
            return f"{table.loc[self._label(line['model'], line['variant']), 'average_rank']:.2f}"
        if kind == "firsts":  # subsets where the model ranks first, alone, among every row or one variant's
            table = self._ranks(keys[1] if len(keys) > 1 else None)
            line = self._line(keys[0])
            ranked = table.drop(columns="average_rank").loc[self._label(line["model"], line["variant"])]
            return f"{int((ranked == 1).sum())} of {len(ranked)}"
        if kind in ("count", "where"):
            return self._count(kind, keys[0], keys[1], keys[2] if len(keys) > 2 else None)
        if kind == "evaluations":
            return self._evaluations(keys[0], keys[1] if len(keys) > 1 else None)
        if kind == "tuning-hours":  # what the whole tuning charged, in hours of one core
            if self.tuning is None or self.tuning.empty:
                raise KeyError("no tuning table in this run")
            return f"{self.tuning['spent_s'].sum() / 3600:.2f}"
        if kind == "seed-gap":
            return self._seed_gap(keys[0], keys[1] if len(keys) > 1 else None)
        if kind == "gain":
            return self._tuning_range(keys[0], keys[1] if len(keys) > 1 else None, "gain", "{:.1f}")
        if kind in ("seed-rmse", "seed-min", "seed-max"):
            per_seed = self._seed_rmse(keys[0], keys[1])
            value = {"seed-rmse": lambda: per_seed.loc[int(keys[2])], "seed-min": per_seed.min,
                     "seed-max": per_seed.max}[kind]()
            return f"{value:.2f}"
        if kind in ("seed-diff", "seed-ci"):  # against one seed of another model alone (same bootstrap)
            from study.analysis.compare import paired_row

            reference = self._predictions_of(keys[2], keys[1])
            reference = reference[reference["seed"] == int(keys[3])]
            if reference.empty:
                raise KeyError(f"no seed {keys[3]} of {keys[2]} on {keys[1]}")
            row = paired_row(self._predictions_of(keys[0], keys[1]), reference, self.max_rul,
                              f"{keys[0]} and {keys[2]} seed {keys[3]}")
            return f"{row['difference']:+.2f}" if kind == "seed-diff" else f"{row['ci_low']:+.2f} to {row['ci_high']:+.2f}"
        if kind == "seed-count":  # against each of another model's seeds alone, as seed-diff
            return self._seed_count(keys[0], keys[1], keys[2], keys[3])
        if kind == "fit-ratio":
            first, second = (self._rows(k).dropna(subset=["rmse"])["fit_seconds"].mean() for k in keys[:2])
            if pd.isna(first) or pd.isna(second) or len(keys) != 2:
                raise ValueError("fit-ratio needs two models with fit times")
            return f"{first / second:.1f}"
        if kind == "engines":
            return self._engines(keys[0] if keys else None)
        if kind == "band":
            return self._band(keys[0], keys[1], keys[2])
        if kind in ("run-minutes", "run-trials"):
            found = [self._command(start) for start in keys[0].split("+")]
            if kind == "run-trials":
                if len(found) != 1:
                    raise ValueError("run-trials names one command")
                return f"{found[0]['n_trials']}"
            if any(run.get("total_seconds") is None for run in found):
                raise ValueError(f"{keys[0]}: a command without a recorded wall time")
            return f"{sum(run['total_seconds'] for run in found) / 60:.1f}"
        raise KeyError(f"unknown kind {kind!r}")

    def _tuning_part(self, model: str, subset: str | None) -> pd.DataFrame:
        """The tuning table's lines of one model (on one subset, or all)."""
        if self.tuning is None or self.tuning.empty:
            raise KeyError("no tuning table in this run")
        part = self.tuning[self.tuning["model"] == model]
        if subset is not None:
            part = part[part["subset"] == subset]
        if part.empty:
            raise KeyError(f"no tuning of {model}" + (f" on {subset}" if subset else ""))
        return part

    def _tuning_range(self, model: str, subset: str | None, column: str, fmt: str) -> str:
        """A tuning-table column of one (model, subset), or its range over subsets."""
        part = self._tuning_part(model, subset)
        low, high = fmt.format(part[column].min()), fmt.format(part[column].max())
        return low if low == high else f"{low} to {high}"

    def _predictions_of(self, spec: str, subset: str | None) -> pd.DataFrame:
        """The long predictions of one model (variant), of one subset or all."""
        if self.preds is None:
            raise KeyError("no predictions in this run")
        line = self._line(spec)
        part = self.preds[self.preds["model"] == self._label(line["model"], line["variant"])]
        if subset is not None:
            part = part[part["subset"] == subset]
        if part.empty:
            raise KeyError(f"no predictions of {spec}" + (f" on {subset}" if subset else ""))
        return part

    def _seed_rmse(self, spec: str, subset: str) -> pd.Series:
        """Each seed's test RMSE on the capped truth, by seed (as each trial was scored)."""
        part = self._predictions_of(spec, subset)
        error = part["y_pred"] - part["y_true"].clip(upper=self.max_rul)
        return (error ** 2).groupby(part["seed"]).mean() ** 0.5

    def _engines(self, subset: str | None) -> str:
        """Test engines of one subset, or the range over subsets (as predicted by any model)."""
        if self.preds is None:
            raise KeyError("no predictions in this run")
        counts = self.preds.groupby("subset")["unit"].nunique()
        if subset is not None:
            return f"{counts.loc[subset]}"
        low, high = counts.min(), counts.max()
        return f"{low}" if low == high else f"{low} to {high}"

    def _band(self, spec: str, subset: str, band: str) -> str:
        """RMSE on the test engines whose (uncapped) true RUL lies in (LOW, HIGH], every seed pooled."""
        low_text, _, high_text = band.partition("-")
        low, high = float(low_text), float("inf") if high_text == "up" else float(high_text)
        part = self._predictions_of(spec, subset)
        truth = part["y_true"]
        chosen = part[((truth > low) | ((low == 0) & (truth == 0))) & (truth <= high)]
        if chosen.empty:
            raise ValueError(f"no test engine of {subset} with true RUL in {band}")
        error = chosen["y_pred"] - chosen["y_true"].clip(upper=self.max_rul)
        return f"{float((error ** 2).mean()) ** 0.5:.1f}"

    def _command(self, start: str) -> dict[str, Any]:
        """The run command (this one or a previous one in ``run.json``) that started at ``start``."""
        commands = list(self.info.get("previous_runs", [])) + [self.info]
        found = [run for run in commands if str(run.get("started_at", "")).startswith(start)]
        if len(found) != 1:
            raise KeyError(f"{len(found)} run commands started at {start}")
        return found[0]

    def _ranks(self, kind: str | None) -> pd.DataFrame:
        """Average ranks by label (``ranks``), of every row or of one variant's rows only."""
        from study.records.leaderboard import ranks

        part = self.board if kind is None else self.board[self.board["variant"] == kind]
        if part.empty:
            raise KeyError(f"no rows of variant {kind}")
        labelled = part.assign(model=[self._label(m, v) for m, v in zip(part["model"], part["variant"])])
        return ranks(labelled).set_index("model")

    def _count(self, kind: str, what: str, spec: str, named: str | None) -> str:
        """On how many / which subsets a model is below, above, lower, higher or unresolved
        against a baseline (``best``: each subset's best single model of the model's variant)."""
        from study.analysis.compare import HIGHER, LOWER, UNRESOLVED

        if what not in ("below", "above", "lower", "higher", "unresolved"):
            raise ValueError(f"{what!r}: count below, above, lower, higher or unresolved")
        line = self._line(spec)
        label = self._label(line["model"], line["variant"])
        subsets = sorted(self._rows(spec).dropna(subset=["rmse"])["subset"].unique())
        found = []
        for subset in subsets:
            baseline = (self._best_single(subset, line["variant"]) if named == "best"
                        else self._baseline_for(line, named))
            row = self._comparison(baseline, label).loc[(label, subset)]
            found.append(subset) if {"below": row["difference"] < 0, "above": row["difference"] > 0,
                                     "lower": row["verdict"] == LOWER, "higher": row["verdict"] == HIGHER,
                                     "unresolved": row["verdict"] == UNRESOLVED}[what] else None
        if kind == "count":
            return f"{len(found)} of {len(subsets)}"
        return "none" if not found else found[0] if len(found) == 1 else ", ".join(found[:-1]) + " and " + found[-1]

    def _seed_count(self, what: str, spec: str, subset: str, other: str) -> str:
        """Against how many of ``other``'s seeds, each alone, a model is below, above, lower,
        higher or unresolved (``seed-diff``'s comparison, one per seed of ``other``)."""
        from study.analysis.compare import HIGHER, LOWER, UNRESOLVED, paired_row

        if what not in ("below", "above", "lower", "higher", "unresolved"):
            raise ValueError(f"{what!r}: count below, above, lower, higher or unresolved")
        mine, reference = self._predictions_of(spec, subset), self._predictions_of(other, subset)
        seeds = sorted(reference["seed"].unique())
        found = 0
        for seed in seeds:
            row = paired_row(mine, reference[reference["seed"] == seed], self.max_rul,
                             f"{spec} and {other} seed {seed}")
            found += {"below": row["difference"] < 0, "above": row["difference"] > 0,
                      "lower": row["verdict"] == LOWER, "higher": row["verdict"] == HIGHER,
                      "unresolved": row["verdict"] == UNRESOLVED}[what]
        return f"{found} of {len(seeds)}"

    def _evaluations(self, model: str, subset: str | None) -> str:
        """Tuning evaluations that finished within the budget, of one subset or as a range."""
        part = self._tuning_part(model, subset)
        done = (part["evaluations"] - part["failed"]).astype(int)
        low, high = done.min(), done.max()
        return f"{low}" if low == high else f"{low} to {high}"

    def _seed_gap(self, spec: str, subset: str | None) -> str:
        """The largest spread between seeds of one test engine's prediction, in cycles."""
        if self.preds is None:
            raise KeyError("no predictions to compare seeds in")
        line = self._line(spec)
        part = self.preds[self.preds["model"] == self._label(line["model"], line["variant"])]
        if subset is not None:
            part = part[part["subset"] == subset]
        if part.empty or part["seed"].nunique() < 2:
            raise ValueError(f"no two seeds of {spec}" + (f" on {subset}" if subset else ""))
        spread = part.groupby(["subset", "unit"])["y_pred"].agg(lambda s: s.max() - s.min())
        return f"{spread.max():.2f}"


class FileValues:
    """Named numbers of the committed files beside a document (``reports/``), then of its run.

    A writeup cites more than its run: earlier runs, development measurements and published
    numbers. Each is read from the committed file it was measured in, never typed:

    - ``run/FOLDER/NAME``: any ``RunValues`` name of another run folder under the root
      (``run/ensemble_fd001/rmse/lstm/FD001``);
    - ``against/FOLDER/MODEL/SUBSET``, ``against-ci/FOLDER/MODEL/SUBSET``: that folder's model
      minus the same model (variant) of the document's run, engine by engine (``study.compare``'s
      ``--against``: RMSE difference and its 95% interval);
    - ``superseded/START/NAME``: any ``RunValues`` name of the run's superseded rows
      (``superseded.jsonl``) that the run command started at START produced
      (``superseded/2026-11-26T23:34/rmse/transformer/FD002``);
    - ``published/MODEL/SUBSET``: an RMSE reported in a paper (``study/data/published_results.csv``;
      MODEL in lower case, spaces as ``-``: ``published/deep-lstm/FD001``);
      ``published-count/WHAT/MODEL/PUBLISHED``: on how many of the subsets that both report the
      run's MODEL (as ``rmse``) has an RMSE ``below`` or ``above`` the one reported for PUBLISHED
      (``published-count/below/lstm@hand-tuned/deep-lstm``: ``4 of 4``);
    - ``refit-mean``, ``refit-se``, ``refit-worse``, ``refit-max-gain`` ``/MODEL/PROFILE``: over
      ``refit_folds.jsonl``'s folds (subset x fold, seeds averaged): the mean refit-minus-selected
      RMSE, its standard error, on how many folds refit was worse (``7 of 12``), the largest
      gain on one fold (one decimal);
    - ``friction/MODEL/COLUMN``: a cell of ``friction.csv`` (``friction/xgboost/adapter_loc``);
    - ``fits/FOLDER``: the validation fits recorded in ``FOLDER/tune_*.jsonl`` and
      ``FOLDER/fits.jsonl`` (one per line);
    - ``bench-step/mambapy`` or ``bench-step/ours``: seconds per Mamba block train step, and
      ``bench-speedup``: their ratio (one decimal), from ``bench_torch.txt``.
    - validation sweeps (``FOLDER/FILE.jsonl`` of ``benchmarks/tune_torch.py``, ``FILES`` one or
      several joined by ``+``, the first file listing a fit wins; each fit a (model, subset,
      split, seed) cell's ``valid_rmse_k1``; FILTERs ``model:M``, ``subset:S``, ``seed:N``,
      ``split:N`` or ``split:LOW-HIGH``): ``sweep-gain/FOLDER/FILES/BASE/VARIANT[/FILTER...]``:
      BASE minus VARIANT, averaged over seeds per (model, subset, split), as a range over those
      (one decimal); ``sweep-mean-gain/...``: the same averaged over every (cell, seed) pair (two
      decimals); ``sweep-count/FOLDER/FILES/BASE/VARIANT/WHAT[/FILTER...]``: on how many pairs
      VARIANT is ``lower``, ``level`` (within ``LEVEL``) or ``higher`` (``8 of 10``);
      ``sweep-mean/FOLDER/FILES/VARIANT[/FILTER...]``: each model's mean, as a range over models.
      BASE may list alternatives joined by ``+``, the first with a fit of the pair wins;
      ``run@START`` stands for the kept checkpoints (``best_valid_rmse``, split 0) of the trials
      the run command started at START produced;
    - trials of one run command (``run.json``'s START, kept in ``trials.jsonl`` or superseded):
      ``valid/START/SUBSET[/SEED]``: the networks' mean ``best_valid_rmse`` (one decimal);
      ``valid-range/START/SUBSET[/SEED]``: each network's mean, as a range over networks;
      ``valid-spread/START/SUBSET``: each network's highest minus lowest seed, as a range;
      ``train-rmse/START/MODEL/SUBSET/SEED``: the training RMSE of the trial's last epoch;
      ``pred-gap/START/OTHER``: the largest difference, in cycles, between the predictions of one
      test engine by the same (model, subset, seed) in both commands (one significant digit);
    - ``replay-minutes/FOLDER`` (may hold ``/``): the wall minutes between ``FOLDER/run.log``'s ``start`` and
      ``end`` lines; ``epoch-ratio/FOLDER/MODEL/START``: seconds per epoch (fit seconds over
      epochs, every network of a fit) of the trials of START over ``FOLDER/fits.jsonl``'s, per
      subset, as a range (one decimal);
    - ``cuda-fit/RUN``: fit seconds of the trials of ``gpu_check/study_cuda_trials.txt`` from
      run folder RUN (``s2``), as a range (whole seconds).

    Any other name goes to the run's ``RunValues`` (so an unknown one is still an error).
    """

    def __init__(self, root: Path, run: RunValues, run_dir: Path | None = None,
                 read_run: Callable[[Path], Any] | None = None):
        """``read_run(folder)`` gives another run folder's ``RunView`` (``study.publishing.report.run_view``,
        passed in because the report imports this module, not the other way round)."""
        self.root, self.run, self.run_dir = Path(root), run, None if run_dir is None else Path(run_dir)
        self.read_run = read_run
        self._runs: dict[str, tuple[Any, RunValues]] = {}

    def __call__(self, name: str) -> str:
        kind, *keys = name.split("/")
        if kind not in ("run", "against", "against-ci", "superseded", "published", "published-count",
                        "refit-mean", "refit-se",
                        "refit-worse", "refit-max-gain", "bench-step", "bench-speedup", "friction", "fits",
                        *SWEEP_KINDS, *TRIAL_KINDS, "replay-minutes", "epoch-ratio", "cuda-fit"):
            return self.run(name)
        try:
            return self._lookup(kind, keys)
        except (KeyError, IndexError, TypeError, ValueError, OSError, StudyError) as exc:
            raise StudyError(f"value marker {name!r} names nothing in the committed files under {self.root} "
                             f"({exc}); kinds: run/FOLDER/NAME, against(-ci)/FOLDER/MODEL/SUBSET, "
                             "superseded/START/NAME, published/MODEL/SUBSET, "
                             "published-count/WHAT/MODEL/PUBLISHED, refit-mean, refit-se, refit-worse, "
                             "refit-max-gain (KIND/MODEL/PROFILE), bench-step/ours|mambapy, bench-speedup, friction/MODEL/COLUMN, "
                             "fits/FOLDER, sweep-gain, sweep-mean-gain (KIND/FOLDER/FILES/BASE/VARIANT[/FILTER]), "
                             "sweep-count (KIND/FOLDER/FILES/BASE/VARIANT/WHAT[/FILTER]), sweep-mean "
                             "(KIND/FOLDER/FILES/VARIANT[/FILTER]), valid, valid-range (KIND/START/SUBSET[/SEED]), "
                             "valid-spread (KIND/START/SUBSET), train-rmse (KIND/START/MODEL/SUBSET/SEED), "
                             "pred-gap/START/OTHER, replay-minutes/FOLDER, epoch-ratio/FOLDER/MODEL/START, "
                             "cuda-fit/RUN") from exc

    def _lookup(self, kind: str, keys: list[str]) -> str:
        if kind == "run":
            return self._folder(keys[0])[1]("/".join(keys[1:]))
        if kind in ("against", "against-ci"):
            return self._against(kind, keys[0], keys[1], keys[2])
        if kind == "superseded":
            return self._superseded(keys[0])("/".join(keys[1:]))
        if kind == "published":
            return self._published(keys[0], keys[1])
        if kind == "published-count":
            return self._published_count(keys[0], keys[1], keys[2])
        if kind.startswith("refit-"):
            return self._refit(kind, keys[0], keys[1])
        if kind == "friction":
            value = pd.read_csv(self.root / "friction.csv").set_index("model").loc[keys[0], keys[1]]
            if pd.isna(value) or len(keys) != 2:
                raise ValueError(f"friction.csv has no {keys[1]} of {keys[0]}")
            return f"{value:g}" if isinstance(value, float) else str(value)
        if kind == "fits":
            folder = self.root.joinpath(*keys)
            files = sorted([*folder.glob("tune_*.jsonl"), *folder.glob("fits.jsonl")])
            if not files:
                raise KeyError(f"no tune_*.jsonl or fits.jsonl in {folder}")
            return f"{sum(1 for f in files for line in f.read_text().splitlines() if line.strip())}"
        if kind in SWEEP_KINDS:
            return self._sweep_value(kind, keys)
        if kind in TRIAL_KINDS:
            return self._trial_value(kind, keys)
        if kind == "replay-minutes":
            times = dict(re.findall(r"^(start|end) (\S+)", self.root.joinpath(*keys, "run.log").read_text(), re.M))
            return f"{(pd.Timestamp(times['end']) - pd.Timestamp(times['start'])).total_seconds() / 60:.1f}"
        if kind == "epoch-ratio" and len(keys) >= 3:
            return self._epoch_ratio("/".join(keys[:-2]), keys[-2], keys[-1])
        if kind == "cuda-fit" and len(keys) == 1:
            text = (self.root / "gpu_check" / "study_cuda_trials.txt").read_text()
            fits = [float(m.group(1)) for m in re.finditer(rf"^\S*/{re.escape(keys[0])}/trials\.jsonl \S+ ok \S+ ([\d.]+)",
                                                           text, re.M)]
            if not fits:
                raise KeyError(f"no trials of {keys[0]} in study_cuda_trials.txt")
            return _span(fits, "{:.0f}")
        if kind in ("epoch-ratio", "cuda-fit"):
            raise KeyError(f"{kind}: wrong number of parts")
        return self._bench(kind, keys)

    def _sweep_frame(self, folder: str, files: str, base: str, filters: list[str]) -> pd.DataFrame:
        """The fits of ``FOLDER/FILE.jsonl`` (several joined by ``+``; first file wins), plus the
        kept checkpoints of each ``run@START`` alternative of ``base``, filtered by ``FIELD:VALUE``."""
        cells = ["model", "subset", "split_seed", "seed", "variant"]
        parts = []
        for name in files.split("+"):
            path = self.root / folder / f"{name}.jsonl"
            if not path.is_file():
                raise KeyError(f"no sweep file {path}")
            frame = pd.read_json(path, lines=True)
            frame["split_seed"] = frame["split_seed"].fillna(0) if "split_seed" in frame.columns else 0
            parts.append(frame[cells + ["valid_rmse_k1"]])
        for start in {a[4:] for a in base.split("+") if a.startswith("run@")}:
            runs = [{"model": r["model"], "subset": r["subset"], "split_seed": 0, "seed": r["seed"],
                     "variant": f"run@{start}", "valid_rmse_k1": r["info"]["best_valid_rmse"]}
                    for r in self._records(start) if (r.get("info") or {}).get("best_valid_rmse") is not None]
            parts.append(pd.DataFrame(runs, columns=cells + ["valid_rmse_k1"]))
        frame = pd.concat(parts, ignore_index=True).astype({"split_seed": int, "seed": int})
        frame = frame.drop_duplicates(cells, keep="first")
        for key in filters:
            field, value = key.split(":", 1)
            column = {"model": "model", "subset": "subset", "seed": "seed", "split": "split_seed"}[field]
            if column in ("seed", "split_seed"):
                low, _, high = value.partition("-")
                frame = frame[frame[column].between(int(low), int(high or low))]
            else:
                frame = frame[frame[column] == value]
        return frame

    def _sweep_value(self, kind: str, keys: list[str]) -> str:
        """Gains, counts and means over the fits of validation sweeps (see the class docstring)."""
        folder, files, *rest = keys
        if kind == "sweep-mean":
            variant, filters = rest[0], rest[1:]
            part = self._sweep_frame(folder, files, "", filters)
            means = part[part["variant"] == variant].groupby("model")["valid_rmse_k1"].mean()
            if means.empty:
                raise KeyError(f"no fits of {variant} in {files}")
            return _span(means, "{:.1f}")
        base, variant, *filters = rest
        what = filters.pop(0) if kind == "sweep-count" else None
        if what not in (None, "lower", "level", "higher"):
            raise ValueError(f"{what!r}: count lower, level or higher")
        frame = self._sweep_frame(folder, files, base, filters).set_index(
            ["model", "subset", "split_seed", "seed", "variant"])["valid_rmse_k1"]
        table = frame.unstack("variant")
        if variant not in table.columns:
            raise KeyError(f"no fits of {variant} in {files}")
        reference = pd.Series(float("nan"), index=table.index)
        for alternative in reversed(base.split("+")):  # the first alternative with a fit wins
            if alternative not in table.columns:
                raise KeyError(f"no fits of {alternative} in {files}")
            reference = table[alternative].combine_first(reference)
        gain = (reference - table[variant]).dropna()
        if gain.empty:
            raise KeyError(f"no cell with both {base} and {variant}")
        if kind == "sweep-gain":
            return _span(gain.groupby(level=["model", "subset", "split_seed"]).mean(), "{:.1f}")
        if kind == "sweep-mean-gain":
            return f"{gain.mean():.2f}"
        found = {"lower": gain >= LEVEL, "higher": gain <= -LEVEL, "level": gain.abs() < LEVEL}[what]
        return f"{int(found.sum())} of {len(gain)}"

    def _records(self, start: str) -> list[dict[str, Any]]:
        """Trial records (kept or superseded) that the run command started at START produced,
        the last per (model, subset, seed)."""
        from study.records.store import ROWS_FILE, SUPERSEDED_FILE, ResultStore

        if self.run_dir is None:
            raise KeyError("no run folder to read trials from")
        commands = [*self.run.info.get("previous_runs", []), self.run.info]
        starts = sorted(str(r["started_at"]) for r in commands if r.get("started_at"))
        begin = str(self.run._command(start)["started_at"])
        end = next((s for s in starts if s > begin), "9999")
        found: dict[tuple, dict[str, Any]] = {}
        for name in (SUPERSEDED_FILE, ROWS_FILE):
            for record in ResultStore(self.run_dir, name=name).rows():
                if begin <= str(record.get("started_at") or "") < end:
                    found[(record["model"], record["subset"], record["seed"])] = record
        if not found:
            raise KeyError(f"no trials from the command started at {start}")
        return list(found.values())

    def _trial_value(self, kind: str, keys: list[str]) -> str:
        """Validation RMSE, training RMSE and prediction gaps of one run command's trials."""
        import numpy as np

        records = self._records(keys[0])
        if kind == "pred-gap":
            other = {(r["model"], r["subset"], r["seed"]): r for r in self._records(keys[1])}
            gaps = []
            for record in records:
                twin = other.get((record["model"], record["subset"], record["seed"]))
                if twin is None or record.get("y_pred") is None or twin.get("y_pred") is None:
                    continue
                if list(record["units"]) != list(twin["units"]):
                    raise ValueError(f"{record['model']} on {record['subset']} scored other engines")
                gaps.append(float(np.abs(np.subtract(record["y_pred"], twin["y_pred"])).max()))
            if not gaps:
                raise KeyError(f"no trial of {keys[0]} repeated by {keys[1]}")
            return f"{max(gaps):.1g}"
        if kind == "train-rmse":
            model, subset, seed = keys[1], keys[2], int(keys[3])
            record = next((r for r in records if (r["model"], r["subset"], r["seed"]) == (model, subset, seed)), None)
            if record is None:
                raise KeyError(f"no trial of {model} on {subset}, seed {seed}, from {keys[0]}")
            return f"{record['info']['history'][-1]['train_rmse']:.1f}"
        subset = keys[1]
        rows = pd.DataFrame([{"model": r["model"], "seed": r["seed"], "valid": r["info"]["best_valid_rmse"]}
                             for r in records if r["subset"] == subset
                             and (r.get("info") or {}).get("best_valid_rmse") is not None])
        if len(keys) > 2 and kind != "valid-spread":
            rows = rows[rows["seed"] == int(keys[2])]
        if rows.empty:
            raise KeyError(f"no network trial of {keys[0]} on {subset}")
        if kind == "valid":
            return f"{rows['valid'].mean():.1f}"
        if kind == "valid-range":
            return _span(rows.groupby("model")["valid"].mean(), "{:.1f}")
        return _span(rows.groupby("model")["valid"].agg(lambda v: v.max() - v.min()), "{:.1f}")

    def _epoch_ratio(self, folder: str, model: str, start: str) -> str:
        """Seconds per epoch of START's trials over those of ``FOLDER/fits.jsonl``, per subset."""
        fits = pd.read_json(self.root / folder / "fits.jsonl", lines=True)
        fits = fits[fits["model"] == model]
        epochs = fits["epochs_run"].apply(lambda e: sum(e) if isinstance(e, list) else e)
        replay = (fits["fit_seconds"] / epochs).groupby(fits["subset"]).mean()
        trials = pd.DataFrame([{"subset": r["subset"], "per_epoch": r["fit_seconds"] / r["info"]["epochs_run"]}
                               for r in self._records(start) if r["model"] == model])
        if replay.empty or trials.empty:
            raise KeyError(f"no {model} fits in {folder} or trials of {start}")
        ratio = (trials.groupby("subset")["per_epoch"].mean() / replay).dropna()
        if ratio.empty:
            raise KeyError(f"no subset in both {folder} and {start}")
        return _span(ratio, "{:.1f}")

    def _folder(self, folder: str) -> tuple[Any, RunValues]:
        """The ``RunView`` and values of a run folder under the root (read once)."""
        if folder not in self._runs:
            path = self.root / folder
            if not (path / "trials.jsonl").is_file():
                raise KeyError(f"no run folder {path}")
            if self.read_run is None:
                raise KeyError(f"{path} is another run folder and no read_run was given")
            view = self.read_run(path)
            self._runs[folder] = (view, view.values())
        return self._runs[folder]

    def _against(self, kind: str, folder: str, spec: str, subset: str) -> str:
        """A model of another run minus the same model of the document's run, engine by engine."""
        from study.analysis.compare import compare_runs

        view, _ = self._folder(folder)
        if self.run.preds is None:
            raise KeyError("the document's run has no predictions")
        line = self.run._line(spec)  # the same model (variant) in both runs
        label = self.run._label(line["model"], line["variant"])
        other = view.preds[(view.preds["model"] == line["model"]) & (view.preds["subset"] == subset)]
        if "variant" in other.columns:
            other = other[other["variant"].isin([line["variant"], ""])] if other["variant"].nunique() > 1 else other
        mine = self.run.preds[(self.run.preds["model"] == label) & (self.run.preds["subset"] == subset)]
        if other.empty or mine.empty:
            raise KeyError(f"{spec} on {subset} is not in both runs")
        row = compare_runs(other.assign(model=label), mine, self.run.max_rul).iloc[0]
        if kind == "against":
            return f"{row['difference']:+.2f}"
        return f"{row['ci_low']:+.2f} to {row['ci_high']:+.2f}"

    def _superseded(self, start: str) -> RunValues:
        """Values of the superseded rows one earlier run command produced (its start to the next)."""
        from study.records.leaderboard import leaderboard, predictions_frame
        from study.records.store import SUPERSEDED_FILE, ResultStore

        key = f"superseded@{start}"
        if key not in self._runs:
            if self.run_dir is None:
                raise KeyError("no run folder to read superseded rows from")
            command = self.run._command(start)
            starts = sorted(str(r.get("started_at")) for r in [*self.run.info.get("previous_runs", []),
                                                               self.run.info] if r.get("started_at"))
            begin = str(command["started_at"])
            end = next((s for s in starts if s > begin), "9999")
            rows = {(r["model"], r["subset"], r["seed"]): r
                    for r in ResultStore(self.run_dir, name=SUPERSEDED_FILE).rows()
                    if begin <= str(r.get("started_at", "")) < end}
            if not rows:
                raise KeyError(f"no superseded rows from the command started at {start}")
            found = list(rows.values())
            self._runs[key] = (None, RunValues(leaderboard(found), preds=predictions_frame(found),
                                               max_rul=self.run.max_rul, baseline=self.run.baseline))
        return self._runs[key][1]

    @staticmethod
    def _published(model: str, subset: str) -> str:
        from study.data.published import published_results

        table = published_results()
        slug = table["model"].str.lower().str.replace(r"[^a-z0-9]+", "-", regex=True).str.strip("-")
        found = table[(slug == model) & (table["subset"] == subset)]
        if len(found) != 1:
            raise KeyError(f"{len(found)} published rows of {model} on {subset}")
        return f"{found['rmse'].iloc[0]:.2f}"

    def _published_count(self, what: str, spec: str, model: str) -> str:
        """On how many subsets the run's model has an RMSE below (above) a published model's."""
        from study.data.published import published_results

        if what not in ("below", "above"):
            raise ValueError(f"{what!r}: count below or above")
        table = published_results()
        slug = table["model"].str.lower().str.replace(r"[^a-z0-9]+", "-", regex=True).str.strip("-")
        reported = table[slug == model].set_index("subset")["rmse"].dropna()
        if reported.index.duplicated().any():
            raise ValueError(f"several published rows of {model} on one subset")
        mine = self.run._rows(spec).dropna(subset=["rmse"]).set_index("subset")["rmse"]
        both = sorted(set(reported.index) & set(mine.index))
        if not both:
            raise KeyError(f"no subset with both {spec} and published {model}")
        found = sum(bool(mine[s] < reported[s]) if what == "below" else bool(mine[s] > reported[s]) for s in both)
        return f"{found} of {len(both)}"

    def _refit(self, kind: str, model: str, profile: str) -> str:
        """Refit minus selected RMSE over the folds of ``refit_folds.jsonl`` (seeds averaged per fold)."""
        frame = pd.read_json(self.root / "refit_folds.jsonl", lines=True)
        part = frame[(frame["model"] == model) & (frame["profile"] == profile)]
        if part.empty:
            raise KeyError(f"no refit folds of {model} at {profile}")
        folds = (part["rmse_refit"] - part["rmse_selected"]).groupby([part["subset"], part["fold"]]).mean()
        if kind == "refit-mean":
            return f"{folds.mean():+.2f}"
        if kind == "refit-se":
            return f"{folds.std(ddof=1) / len(folds) ** 0.5:.2f}"
        if kind == "refit-worse":
            return f"{int((folds > 0).sum())} of {len(folds)}"
        return f"{-folds.min():.1f}"

    def _bench(self, kind: str, keys: list[str]) -> str:
        """The Mamba block train-step times of ``bench_torch.txt`` (ours against mambapy)."""
        text = (self.root / "bench_torch.txt").read_text()
        steps = {m.group(1): float(m.group(2)) for m in re.finditer(r"^(ours|mambapy):\s+([\d.]+) s", text, re.M)}
        if kind == "bench-step":
            return f"{steps[keys[0]]:.2f}"
        if kind == "bench-speedup" and not keys:
            return f"{steps['mambapy'] / steps['ours']:.1f}"
        raise KeyError(f"{kind} takes {'no further name' if kind == 'bench-speedup' else 'ours or mambapy'}")


def _span(values: Any, fmt: str) -> str:
    """The lowest and highest of some values as ``LOW to HIGH`` (one value where they print alike)."""
    low, high = fmt.format(min(values)), fmt.format(max(values))
    return low if low == high else f"{low} to {high}"


def refresh_values(text: str, values: RunValues | FileValues) -> str:
    """Replace the body of every ``<!-- value:NAME -->`` marker with the run's value."""
    return VALUE.sub(lambda m: m.group(1) + values(m.group("name")) + m.group(4), text)


def unmarked_numbers(text: str) -> list[str]:
    """Decimal numbers stated outside table and value markers (and outside code blocks)."""
    text = re.sub(r"```.*?```", "", TABLE.sub("", VALUE.sub("", text)), flags=re.S)
    return DECIMAL.findall(text)


def prose_numbers(text: str) -> list[tuple[int, str]]:
    """(line, number) for every number stated in prose outside markers: table and value markers,
    code (fenced and inline), comments, link targets and URLs, headings and markdown tables are
    left out. A number that is a result belongs in a value marker; the rest a caller whitelists."""
    text = TABLE.sub(lambda m: "\n" * m.group(0).count("\n"), text)
    text = VALUE.sub("", text)
    text = re.sub(r"```.*?```|<!--.*?-->", lambda m: "\n" * m.group(0).count("\n"), text, flags=re.S)
    text = re.sub(r"`[^`\n]*`|\]\([^)\s]*\)|https?://\S+", "", text)
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        if line.lstrip().startswith(("#", "|")):
            continue
        found += [(number, n.rstrip(",")) for n in NUMBER.findall(line)]
    return found
