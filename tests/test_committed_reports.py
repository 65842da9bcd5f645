"""The committed writeup states what the committed run holds: every table and value marker
in it, refreshed from ``reports/study``, leaves the text unchanged (no stale number)."""
from __future__ import annotations

from pathlib import Path

import pytest

from study.report import refresh_markers, run_view

ROOT = Path(__file__).resolve().parents[1]
RUN = ROOT / "reports" / "study"


@pytest.fixture(scope="module")
def refreshed():
    """name -> (committed text, text refreshed from the committed run); "refresh": the refresher."""
    view = run_view(RUN)
    tables, values = view.tables(RUN), view.values()
    docs = {"refresh": lambda text: refresh_markers(text, tables, values)}
    for name in ("writeup.md",):
        text = (ROOT / "reports" / name).read_text()
        docs[name] = (text, docs["refresh"](text))
    return docs


@pytest.mark.parametrize("name", ["writeup.md"])
def test_every_marked_table_and_number_matches_the_committed_run(refreshed, name):
    committed, fresh = refreshed[name]
    if committed != fresh:
        stale = [a for a, b in zip(committed.splitlines(), fresh.splitlines()) if a != b][:5]
        pytest.fail(f"reports/{name} is stale against reports/study; regenerate with python -m study.report "
                    f"reports/study --writeup reports/{name}. First differing lines: {stale}")


def test_the_check_would_see_a_stale_number(refreshed):
    """The same comparison on a copy with one table cell changed is caught."""
    committed, _ = refreshed["writeup.md"]
    start = committed.index("<!-- table:summary -->")
    cell = committed.index("|", committed.index("\n| ", start) + 3)
    stale = committed[:cell] + " 99.99" + committed[cell:]
    assert refreshed["refresh"](stale) != stale
