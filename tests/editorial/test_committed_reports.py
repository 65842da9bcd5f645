"""The committed writeup states what the committed run holds: every table and value marker
in it, refreshed from ``reports/study``, leaves the text unchanged (no stale number)."""
from __future__ import annotations

from pathlib import Path

import pytest

from study.publishing.markers import FileValues
from study.publishing.report import refresh_markers, run_view

ROOT = Path(__file__).resolve().parents[2]
RUN = ROOT / "reports" / "study"

#: editorial checks of the committed post and writeup (they load the whole committed study):
#: not part of make test-fast's inner loop
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def refreshed():
    """name -> (committed text, text refreshed from the committed run); "refresh": the refresher."""
    view = run_view(RUN)  # the run's values, then the committed files beside the documents
    tables, values = view.tables(RUN), FileValues(ROOT / "reports", view.values(), RUN, read_run=run_view)
    docs = {"refresh": lambda text: refresh_markers(text, tables, values)}
    for name in ("writeup.md", "blog.md"):
        text = (ROOT / "reports" / name).read_text()
        docs[name] = (text, docs["refresh"](text))
    return docs


@pytest.mark.slow
@pytest.mark.parametrize("name", ["writeup.md", "blog.md"])
def test_every_marked_table_and_number_matches_the_committed_run(refreshed, name):
    committed, fresh = refreshed[name]
    if committed != fresh:
        stale = [a for a, b in zip(committed.splitlines(), fresh.splitlines()) if a != b][:5]
        pytest.fail(f"reports/{name} is stale against reports/study; regenerate with python -m study.report "
                    f"reports/study --writeup reports/{name}. First differing lines: {stale}")


@pytest.mark.slow
def test_the_check_would_see_a_stale_number(refreshed):
    """The same comparison on a copy with one table cell changed is caught."""
    committed, _ = refreshed["writeup.md"]
    start = committed.index("<!-- table:summary -->")
    cell = committed.index("|", committed.index("\n| ", start) + 3)
    stale = committed[:cell] + " 99.99" + committed[cell:]
    assert refreshed["refresh"](stale) != stale


def test_the_post_types_no_result_by_hand_and_shows_its_five_figures(refreshed):
    """Every decimal in the post comes from a value marker; its figures exist in the run (the
    results, cost, error-by-stage and planner figures, and the schematic of how each family
    reads an engine); it is a post (under 1,900 words), not a second writeup."""
    import re

    from study.publishing.markers import unmarked_numbers

    text, _ = refreshed["blog.md"]
    assert unmarked_numbers(text) == []
    figures = re.findall(r"!\[[^\]]*\]\((study/fig_[\w]+\.png)\)", text)
    assert len(figures) == 5 and all((ROOT / "reports" / f).stat().st_size > 10_000 for f in figures)
    assert {"study/fig_how_models_read.png", "study/fig_planner_misses.png"} <= set(figures)
    words = len(re.sub(r"<!--.*?-->", "", text, flags=re.S).split())
    assert 1200 <= words <= 1900, words
    assert "<!-- value:rmse/lstm@default/" in text  # the 2021 LSTM is cited from the run
    # sizes and a planner's shares come from the run too, not typed
    assert "<!-- value:params/" in text and "<!-- value:late/lstm@default/" in text


#: Numbers the writeup may state in prose without a value marker: settings, definitions and facts
#: of the data, never results. Each entry is the phrase that states the number (whitespace as in
#: any line wrapping) and why it is not a result; a number is excused only inside its phrase.
WHITELIST = {
    "2017": "a year (of a paper)", "2021": "a year (of the baseline LSTM)", "2024": "a year (of a paper)",
    "2026": "a year (of the study)",
    "100 to 260 training engines": "the C-MAPSS training files' sizes, a fact of the data",
    "14 informative sensors": "the protocol's channels (study.data.protocol)",
    "windows of 30/20/30/15 cycles": "the protocol's windows (study.data.protocol)",
    "RUL capped at 125": "the protocol's RUL cap (study.data.protocol)",
    "150 cycles left from 200, so more than 125 counts as 125": "an illustration of the cap, not a measurement",
    "20% of\n  the training engines": "the protocol's validation share (study.data.protocol)",
    "Each model got 600 seconds": "the tuning budget per model and subset (a setting, study.tune)",
    "learning rate 1e-3, batch 256": "the plain trainer's defaults (a setting)",
    "60% of them scored": "the tuner's fold design (a setting, study.tuning.folds)",
    "over 12 folds": "how many folds the refit study has (its design: 4 subsets x 3 folds)",
    "2-core, 24 GiB machine": "the machine (run.json's machine record)",
    "64 units, dropout 0.2": "the LSTM's default size (a setting)",
    "64-wide\n  with 4 attention heads": "the Transformer's default size (a setting)",
    "FD001 has 80 training engines": "FD001's 100 training engines less the 20% held out (data and protocol)",
    "(96 instead of 64)": "the sizes a sweep compared (settings)",
    "32 wide, state size 16": "Mamba's default size (a setting)",
    "up to 30 epochs": "the trainer's default (a setting)",
    "batches of 256, 4,096 windows per epoch, patience 10": "the trainer's defaults (settings)",
    "3e-3, batches of 128, 8,192\n  windows per epoch, patience 6": "the hand-tuned settings (reports/network-settings.md)",
    "(1 = lowest RMSE)": "the definition of a rank",
    "2,000\nresamples": "the bootstrap's resample count (a setting, study.compare)",
    "95% interval": "an interval's coverage (a setting)",
    "(30 cycles on FD001)": "the protocol's window (a setting)",
    "60 cycles (FD001/FD003), 40 (FD002) or 30 (FD004)": "the hand-tuned history lengths (settings)",
    "study's 20 validation engines": "the protocol's validation engines on FD001 (20% of 100)",
    "five different sets of 20 validation engines": "the recheck's design (settings)",
    "(AdamW's 1e-4 -> 0.05)": "the weight decay settings compared",
    "FD001's 80\n  training engines": "FD001's training engines after the holdout (data and protocol)",
    "RUL over 125": "a group of test engines by true RUL (a definition)",
    '"125 cycles" for every engine': "the RUL cap, as the constant a model predicted",
    "RUL up to 50": "a group of test engines by true RUL (a definition)",
    "RUL 50-100": "a group of test engines by true RUL (a definition)",
    "100-125:": "a group of test engines by true RUL (a definition)",
    "(50-100:": "a group of test engines by true RUL (a definition)",
    "mid-life (50 to 100 cycles left)": "a group of test engines by true RUL (a definition)",
    "late by more than 10 and by more than 25 cycles": "the planner table's thresholds (definitions)",
    "early by more than 25": "the planner table's threshold (a definition)",
    "from 10 to 6 epochs": "the patience settings (reports/network-settings.md)",
    "256 at a time instead of 2048": "the validation batch sizes (settings)",
    "on a 2-core machine": "the machine (run.json's machine record)",
    "3-D panel": "a data layout, not a number", "seeded with 0": "AutoGluon's default seed (a library setting)",
    "14 sensors": "the protocol's channels (study.data.protocol)",
    "batch 256 x length 30 x d_model 64": "the benchmark's sizes (settings, reports/bench_torch.txt)",
    "~10,000-column": "MiniRocket's feature count (a property of the method, about 10k kernels' features)",
    "the 2-core CPU machine": "the machine (run.json's machine record)",
    "Measured on the 2-core machine": "the machine (run.json's machine record)",
    "other random sets of 20": "the recheck's design (settings)",
    "what a 10-, 30- and 60-minute tuning": "the budget points of the curves (settings)",
    # measured notes, marked as such in the text: development measurements that were never saved
    "about 850 lines": "code size at the time of writing, not a study result",
    "(480 optimiser steps in all)": "a development setting (dev), never saved",
    "FD003 was 22.4 and fell to 14.8 with\n  more, smaller steps (dev)": "a development measurement, marked (dev), never saved",
    "2.1 s instead\n  of 0.05 s, an AutoGluon model 76 s instead of 7 s (dev)":
        "development measurements, marked (dev), recorded only as adapter notes (reports/friction.csv)",
    "about 3 minutes for one\n  GPU architecture": "a one-off build time on a lent GPU (reports/gpu_check/), not a result",
}
def _unexcused(text: str) -> tuple[list[tuple[int, str]], list[str]]:
    """Prose numbers outside markers and outside every whitelisted or listed phrase; and the
    phrases the text no longer contains (stale entries)."""
    import re

    from study.publishing.markers import VALUE, prose_numbers

    text, missing = VALUE.sub("", text), []  # markers first: a phrase may not reach into a marker's name
    for phrase in WHITELIST:
        pattern = r"\s+".join(map(re.escape, phrase.split()))
        text, found = re.subn(pattern, lambda m: re.sub(r"\d", "#", m.group(0)), text, flags=re.I)
        missing += [] if found else [phrase]
    return prose_numbers(text), missing


def test_the_writeup_types_no_result_by_hand(refreshed):
    """Every number in the writeup's prose is a value marker or sits in a whitelisted phrase (a
    setting, a definition, a fact of the data, a marked measured note); the sentences on wins,
    ranks, seed gaps, tuning evaluations and validation sweeps cite their markers."""
    text, _ = refreshed["writeup.md"]
    pending, stale = _unexcused(text)
    assert pending == [], f"numbers typed by hand (make them value markers): {pending}"
    assert stale == [], f"whitelisted phrases the writeup no longer states: {stale}"
    for marker in ("count/below/transformer@tuned", "avg-rank/transformer@hand-tuned/hand-tuned",
                   "count/lower/ensemble@tuned/best", "seed-gap/autogluon-tabular@tuned", "evaluations/mamba",
                   "sweep-gain/gpu_check/tune_hist/base/hist2", "pred-gap/", "epoch-ratio/"):
        assert f"<!-- value:{marker}" in text


def test_the_number_check_sees_a_typed_result(refreshed):
    """The check would fail on a result typed into prose, even next to a whitelisted phrase."""
    text, _ = refreshed["writeup.md"]
    typed = text.replace("windows of 30/20/30/15 cycles,", "windows of 30/20/30/15 cycles (RMSE 12.34),", 1)
    assert typed != text and _unexcused(typed)[0] == [(text[:text.index("windows of 30/")].count("\n") + 1, "12.34")]


@pytest.mark.parametrize("folder", ["reports/study", "reports/ensemble_fd001"])
def test_no_committed_tuned_row_was_scored_before_its_tuning_ended(folder):
    """Every tuned configuration in the committed study (the 10-minute race's and each budget
    point's) was scored on the test engines only after its pair's journal had ended, kept rows
    and superseded ones alike: the choice was final before any test score existed."""
    import json

    from study.records.store import ResultStore
    from study.tuning.summary import scored_before_tuning_ended

    root = Path(__file__).resolve().parents[2]
    rows = ResultStore(root / folder).rows()
    superseded = root / folder / "superseded.jsonl"
    if superseded.is_file():
        rows += [json.loads(line) for line in superseded.read_text().splitlines() if line.strip()]
    checked, problems = scored_before_tuning_ended(rows, root)
    assert problems == []
    assert checked >= (32 if folder == "reports/study" else 0)  # the race's 32 tuned pairs are in the study
