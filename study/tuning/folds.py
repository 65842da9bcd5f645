"""What the tuner may see: the training file, and engine-disjoint folds made from it.

This module is the tuner's only way to data, and it opens ``train_FD00x.txt`` alone: it
never parses, checksums or even looks for ``test_FD00x.txt`` or ``RUL_FD00x.txt``, so no
decision of the tuner can depend on test engines or their labels (a test deletes those
files and perturbs them, and the tuning journal stays the same).

Folds: the training engines are shuffled with the protocol's split seed and cut into
consecutive blocks of the protocol's validation size (20% of the engines: 5 blocks). Fold
``k`` validates on block ``k`` and trains on every other engine, with the scaler (and, on
FD002/FD004, the operating conditions) fitted on its own training engines. Block 0 is
exactly the study's validation split, so fold 0 is the setting the final runs use; the
blocks are disjoint, so ``k`` folds score ``k`` x 20% different engines. Each fold's "test"
engines are its validation engines cut as test engines are (``study.data.validation``), so a
fold is scored by the same code, and the same last-window convention, as a study trial.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from study.core.errors import StudyError
from study.data import fetch
from study.data.cmapss import OPERATING_CONDITIONS, SETTING_COLUMNS, files_of, parse_table, verify_file
from study.data.protocol import PreparedSubset, Protocol, split_engines
# the protocol's own scaler and engine-set builder, so a fold is prepared exactly as a study split
from study.data.protocol import _engine_set, _Normaliser  # noqa: PLC2701
from study.data.validation import cut_engines


@dataclass(frozen=True)
class TrainingFile:
    """One subset's training file as parsed, with its checksum (the only file read)."""

    subset: str
    frame: object  # pandas DataFrame of train_FD00x.txt
    checksum: str
    verified: bool

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(json.dumps({files_of(self.subset)[0]: self.checksum}).encode()).hexdigest()[:12]


def locate_training(data_dir: Path | None, subsets: list[str], offline: bool, log=print) -> Path:
    """A folder holding the training files of ``subsets`` (the study's search order; only if
    none has them is the full data set fetched, and even then only training files are read)."""
    for folder in fetch.candidate_dirs(data_dir):
        if all((folder / files_of(s)[0]).is_file() for s in subsets):
            return folder
    return fetch.locate(data_dir, offline=offline, log=log)


def load_training(folder: Path, subset: str, allow_unverified: bool = False) -> TrainingFile:
    """Verify and parse ``train_FD00x.txt`` alone."""
    path = Path(folder) / files_of(subset)[0]
    checksum, verified = verify_file(path, allow_unverified)
    return TrainingFile(subset, parse_table(path), checksum, verified)


def validation_blocks(units: np.ndarray, protocol: Protocol) -> list[np.ndarray]:
    """The training engines in disjoint validation blocks; block 0 is the study's split."""
    n_valid = max(1, int(round(len(units) * protocol.validation_fraction)))
    shuffled = np.random.default_rng(protocol.split_seed).permutation(units)
    blocks = [np.sort(shuffled[k * n_valid:(k + 1) * n_valid]) for k in range(len(units) // n_valid)]
    assert np.array_equal(blocks[0], split_engines(units, protocol.validation_fraction, protocol.split_seed)[1])
    return blocks


def make_folds(training: TrainingFile, protocol: Protocol, folds: int) -> list[tuple[PreparedSubset, np.ndarray]]:
    """``folds`` prepared folds (train, valid, cut validation engines as test) and, for each,
    the raw truth of its cut validation engines (from training labels only)."""
    frame = training.frame
    units = frame["unit"].unique()
    blocks = validation_blocks(units, protocol)
    if not 1 <= folds <= len(blocks):
        raise StudyError(f"--folds must be between 1 and {len(blocks)} for {training.subset} "
                         f"({len(units)} training engines in blocks of {len(blocks[0])}); got {folds}.")
    multi = OPERATING_CONDITIONS[training.subset] > 1 and protocol.condition_normalisation == "auto"
    out = []
    for k in range(folds):
        valid_rows = frame[frame["unit"].isin(blocks[k])]
        train_rows = frame[~frame["unit"].isin(blocks[k])]
        norm = _Normaliser(OPERATING_CONDITIONS[training.subset] if multi else 1, protocol.split_seed).fit(
            train_rows[list(SETTING_COLUMNS)].to_numpy(), train_rows[list(protocol.channels)].to_numpy())
        train = _engine_set(train_rows, training.subset, protocol, norm, labelled=True)
        valid = _engine_set(valid_rows, training.subset, protocol, norm, labelled=True)
        cut = cut_engines(valid)
        out.append((PreparedSubset(name=training.subset, train=train, valid=valid, test=cut.engines,
                                   protocol_hash=protocol.hash(), data_fingerprint=training.fingerprint,
                                   verified=training.verified), cut.truth))
    return out

