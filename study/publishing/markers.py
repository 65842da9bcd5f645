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

import re

import pandas as pd

from study.core.errors import StudyError
from study.publishing.views import display_name

# a block's body may be empty, and never runs past its own closing marker
TABLE = re.compile(r"(<!-- table:(?P<name>[\w-]+) -->\n)(?:(?!<!-- /table -->).)*?(<!-- /table -->)", re.S)
VALUE = re.compile(r"(<!-- value:(?P<name>[\w./+@-]+) -->)(?P<body>[^<]*)(<!-- /value -->)")
DECIMAL = re.compile(r"(?<![\w.])[-+−]?\d+\.\d+(?![\w.])")
#: any number a sentence states: 48, 5.85, 2,000, -0.55 (not FD001, 1e-3, d_model or a file name)
_START = r"(?<![\w.])(?<![A-Za-z]-)(?<!\de-)[-+−]?\d[\d,]*(?:\.\d+)?"
NUMBER = re.compile(_START + r"(?![\w.])|" + _START + r"(?=\.(?!\w))")


def refresh_tables(text: str, tables: dict[str, str]) -> str:
    """Replace the body between ``<!-- table:NAME -->`` and ``<!-- /table -->`` markers."""
    def swap(match: re.Match) -> str:
        name = match.group("name")
        if name not in tables:
            return match.group(0)
        return match.group(1) + tables[name].rstrip("\n") + "\n" + match.group(3)

    return TABLE.sub(swap, text)


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
    - ``late/MODEL/CYCLES``, ``early/MODEL/CYCLES``: the share of the model's test engines (every
      subset and seed; ``/SUBSET`` after CYCLES for one subset) predicted more than CYCLES late
      (more remaining life than the capped truth) or early, as a percentage (``6%``;
      ``study.data.scoring.miss_share``);
    - ``avg-rank/MODEL[/VARIANT]``: the model's average rank over subsets (1 = lowest RMSE), among
      every row as the rank table ranks them, or among one variant's rows only
      (``avg-rank/transformer@hand-tuned/hand-tuned``); ``best-rank[-name]/[VARIANT]``: the
      model with the lowest average rank;
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
      predictions of one test engine (``0.00``: the seeds are identical reruns).

    Where a run holds several variants of a model (``study.records.rows.variant``: default, tuned,
    hand-tuned), MODEL names one as ``lstm@default``; a bare ``lstm`` is then an error, so a
    post can never cite the wrong one. ``best`` names the variant too: ``lstm (tuned)``. Without
    a named baseline, a model is compared with the baseline model's row of its own variant (equal
    effort); the baseline model itself, or a variant the baseline lacks, must name one.

    ``preds`` (``predictions_frame`` of ``distinct_models`` rows) lets any pair be compared on
    demand; ``comparison``: comparisons against the baseline already computed (reused as is).
    """

    def __init__(self, board: pd.DataFrame, comparison: pd.DataFrame | None = None, preds: pd.DataFrame | None = None,
                 max_rul: float = 125.0, baseline: str = "lstm", tuning: pd.DataFrame | None = None):
        self.board = board if "variant" in board.columns else board.assign(variant="")
        self.preds, self.max_rul, self.baseline, self.tuning = preds, max_rul, baseline, tuning
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
                             "fit, seeds (KIND/MODEL/SUBSET), diff, ci, verdict (KIND/MODEL/SUBSET[/BASELINE]), "
                             "vs-best, ci-best, verdict-best (KIND/MODEL/SUBSET), best, best-name, best-rmse, best-single(-name) "
                             "(KIND/SUBSET[/VARIANT]), mean-rmse, mean-fit (KIND/MODEL), params (KIND/MODEL/SUBSET), "
                             "late, early (KIND/MODEL/CYCLES[/SUBSET]), avg-rank (KIND/MODEL[/VARIANT]), best-rank(-name) "
                             "(KIND[/VARIANT]), count, where (KIND/WHAT/MODEL[/BASELINE|best]), evaluations, "
                             "seed-gap (KIND/MODEL[/SUBSET]), tuning-hours; "
                             "MODEL@VARIANT where a model has several.") from exc

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

    def _comparison(self, baseline: str) -> pd.DataFrame:
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
            row = self._comparison(baseline).loc[(self._label(line["model"], line["variant"]), keys[1])]
            diff, ci = f"{row['difference']:+.2f}", f"{row['ci_low']:+.2f} to {row['ci_high']:+.2f}"
            return {"diff": diff, "vs-best": diff, "ci": ci, "ci-best": ci,
                    "verdict": str(row["verdict"]), "verdict-best": str(row["verdict"])}[kind]
        if kind in ("best-single", "best-single-name"):
            label = self._best_single(keys[0], keys[1] if len(keys) > 1 else None)
            return display_name(label, self.baseline) if kind.endswith("-name") else label
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
        raise KeyError(f"unknown kind {kind!r}")

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
            row = self._comparison(baseline).loc[(label, subset)]
            found.append(subset) if {"below": row["difference"] < 0, "above": row["difference"] > 0,
                                     "lower": row["verdict"] == LOWER, "higher": row["verdict"] == HIGHER,
                                     "unresolved": row["verdict"] == UNRESOLVED}[what] else None
        if kind == "count":
            return f"{len(found)} of {len(subsets)}"
        return "none" if not found else found[0] if len(found) == 1 else ", ".join(found[:-1]) + " and " + found[-1]

    def _evaluations(self, model: str, subset: str | None) -> str:
        """Tuning evaluations that finished within the budget, of one subset or as a range."""
        if self.tuning is None or self.tuning.empty:
            raise KeyError("no tuning table in this run")
        part = self.tuning[self.tuning["model"] == model]
        if subset is not None:
            part = part[part["subset"] == subset]
        if part.empty:
            raise KeyError(f"no tuning of {model}" + (f" on {subset}" if subset else ""))
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


def refresh_values(text: str, values: RunValues) -> str:
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
