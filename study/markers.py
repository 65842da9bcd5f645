"""Numbers in prose that come from a run, never typed by hand.

Two kinds of marker in a markdown file (the writeup, the blog post):
- ``<!-- table:NAME -->`` ... ``<!-- /table -->``: a whole table from ``study.report.build_tables``;
- ``<!-- value:NAME -->12.83<!-- /value -->``: one number or name inline, looked up by
  ``RunValues`` (``rmse/transformer/FD001``, ``diff/transformer/FD003``, ...).
``python -m study.report RUN --writeup FILE`` refreshes both; an unknown value name is an error,
so a typo cannot leave a stale number behind. ``unmarked_numbers`` lists the decimals a text
states outside any marker, so a test can insist that every result in a post comes from the run.
"""
from __future__ import annotations

import re

import pandas as pd

from study.errors import StudyError

# a block's body may be empty, and never runs past its own closing marker
TABLE = re.compile(r"(<!-- table:(?P<name>[\w-]+) -->\n)(?:(?!<!-- /table -->).)*?(<!-- /table -->)", re.S)
VALUE = re.compile(r"(<!-- value:(?P<name>[\w./+@-]+) -->)(?P<body>[^<]*)(<!-- /value -->)")
DECIMAL = re.compile(r"(?<![\w.])[-+−]?\d+\.\d+(?![\w.])")


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
    - ``diff``, ``ci``, ``verdict`` of a model against the baseline on a subset (paired);
    - ``best``, ``best-rmse`` of a subset; ``mean-rmse``, ``mean-fit`` of a model over subsets.

    Where a run holds several variants of a model (``study.rows.variant``: default, tuned,
    hand-tuned), MODEL names one as ``lstm@default``; a bare ``lstm`` is then an error, so a
    post can never cite the wrong one. ``best`` names the variant too: ``lstm (tuned)``.
    """

    def __init__(self, board: pd.DataFrame, comparison: pd.DataFrame | None = None):
        self.board = board if "variant" in board.columns else board.assign(variant="")
        self.comparison = (comparison.set_index(["model", "subset"]) if comparison is not None and len(comparison)
                           else None)

    def __call__(self, name: str) -> str:
        kind, *keys = name.split("/")
        try:
            return self._lookup(kind, keys)
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise StudyError(f"value marker {name!r} names nothing in this run ({exc}); kinds: rmse, std, score, "
                             "fit, seeds, diff, ci, verdict (KIND/MODEL/SUBSET), best, best-rmse (KIND/SUBSET), "
                             "mean-rmse, mean-fit (KIND/MODEL); MODEL@VARIANT where a model has several.") from exc

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

    def _label(self, model: str, kind: str) -> str:
        several = self.board[self.board["model"] == model]["variant"].nunique() > 1
        return f"{model} ({kind})" if several else model

    def _lookup(self, kind: str, keys: list[str]) -> str:
        columns = {"rmse": ("rmse", "{:.2f}"), "std": ("rmse_std", "{:.2f}"), "score": ("score", "{:.0f}"),
                   "fit": ("fit_seconds", "{:.0f}"), "seeds": ("n_seeds", "{:.0f}")}
        if kind in columns:
            column, fmt = columns[kind]
            value = self._rows(keys[0]).set_index("subset").loc[keys[1], column]
            if pd.isna(value):
                raise ValueError(f"{keys[0]} has no {column} on {keys[1]}")
            return fmt.format(value)
        if kind in ("diff", "ci", "verdict"):
            if self.comparison is None:
                raise KeyError("no comparison with a baseline")
            line = self._rows(keys[0]).iloc[0]
            row = self.comparison.loc[(self._label(line["model"], line["variant"]), keys[1])]
            return {"diff": f"{row['difference']:+.2f}", "ci": f"{row['ci_low']:+.2f} to {row['ci_high']:+.2f}",
                    "verdict": str(row["verdict"])}[kind]
        ok = self.board[self.board["rmse"].notna()]
        if kind in ("best", "best-rmse"):
            part = ok[ok["subset"] == keys[0]].sort_values("rmse")
            best = part.iloc[0]
            return self._label(best["model"], best["variant"]) if kind == "best" else f"{best['rmse']:.2f}"
        if kind in ("mean-rmse", "mean-fit"):
            part = self._rows(keys[0])
            part = part[part["rmse"].notna()]
            if part.empty or part["subset"].nunique() != ok["subset"].nunique():
                raise ValueError(f"{keys[0]} does not have results on every subset")
            return f"{part['rmse'].mean():.2f}" if kind == "mean-rmse" else f"{part['fit_seconds'].mean():.0f}"
        raise KeyError(f"unknown kind {kind!r}")


def refresh_values(text: str, values: RunValues) -> str:
    """Replace the body of every ``<!-- value:NAME -->`` marker with the run's value."""
    return VALUE.sub(lambda m: m.group(1) + values(m.group("name")) + m.group(4), text)


def unmarked_numbers(text: str) -> list[str]:
    """Decimal numbers stated outside table and value markers (and outside code blocks)."""
    text = re.sub(r"```.*?```", "", TABLE.sub("", VALUE.sub("", text)), flags=re.S)
    return DECIMAL.findall(text)
