"""The protocol: one written, hashed card that turns raw C-MAPSS into prepared engine sets.

Everything here is shared by every model: labels, channels, scaling, windows, the engine
split. The test truth is returned separately from the prepared data, so nothing computed
from ``RUL_FD00x.txt`` can reach an adapter.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, replace

import numpy as np
import pandas as pd

from study.data.cmapss import OPERATING_CONDITIONS, SETTING_COLUMNS, RawSubset

DEFAULT_WINDOWS: dict[str, int] = {"FD001": 30, "FD002": 20, "FD003": 30, "FD004": 15}
# Sensors that carry degradation information (constant ones dropped), as in most of the
# literature (e.g. Li, Ding & Sun 2018; rul-datasets' defaults).
INFORMATIVE_SENSORS: tuple[str, ...] = tuple(
    f"s{i}" for i in (2, 3, 4, 7, 8, 9, 11, 12, 13, 14, 15, 17, 20, 21)
)


#: "auto": z-score per operating condition where a subset has several; "global": one z-score.
CONDITION_NORMALISATIONS = ("auto", "global")
#: How an engine shorter than the window is padded (the only policy implemented).
SHORT_ENGINE_POLICIES = ("repeat-first-cycle",)


@dataclass(frozen=True)
class Protocol:
    """Every choice that shapes the data models see; its hash goes into every result row."""

    max_rul: int = 125
    rul_at_last_cycle: int = 0
    windows: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_WINDOWS))
    channels: tuple[str, ...] = INFORMATIVE_SENSORS
    condition_normalisation: str = "auto"  # auto: per condition where a subset has several
    validation_fraction: float = 0.2
    split_seed: int = 0
    short_engine_policy: str = "repeat-first-cycle"
    # After selection on the validation engines, refit each trial's model on training +
    # validation engines with the selected iteration or epoch count (``study.execution.trial.refit``).
    # Left out of ``as_dict`` (and so of the hash) while off: the studies run before it
    # existed keep their hash and resume keys.
    refit: bool = False

    def __post_init__(self) -> None:
        if self.condition_normalisation not in CONDITION_NORMALISATIONS:
            raise ValueError(f"condition_normalisation must be one of {CONDITION_NORMALISATIONS}, "
                             f"got {self.condition_normalisation!r}")
        if self.short_engine_policy not in SHORT_ENGINE_POLICIES:
            raise ValueError(f"short_engine_policy must be one of {SHORT_ENGINE_POLICIES}, "
                             f"got {self.short_engine_policy!r}")
        if not 0 <= self.validation_fraction < 1:
            raise ValueError(f"validation_fraction must be in [0, 1), got {self.validation_fraction}")

    def as_dict(self) -> dict:
        """Plain dict of the settings (JSON-ready)."""
        data = asdict(self)
        data["channels"] = list(self.channels)
        if not self.refit:
            del data["refit"]
        return data

    def hash(self) -> str:
        """Short stable fingerprint of the card."""
        blob = json.dumps(self.as_dict(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:12]

    def selection_hash(self) -> str:
        """The hash of everything up to model selection: the card without ``refit``. Tuning
        selects on folds without refitting (refit is a final-training step), so a tuned
        configuration is valid for a run with refit on or off; ``study.records.tuned_configs`` compares this."""
        return replace(self, refit=False).hash()

    def card(self) -> str:
        """The protocol card as markdown (README, run.json, report)."""
        windows = ", ".join(f"{k} {v}" for k, v in self.windows.items())
        return "\n".join([
            f"- **Labels**: piecewise-linear RUL, capped at {self.max_rul}; RUL at an engine's "
            f"last training cycle is {self.rul_at_last_cycle} (cycles remaining after it).",
            f"- **Channels**: sensors {', '.join(self.channels)} (the 14 informative ones); "
            "operating settings are used only to find operating conditions.",
            "- **Scaling**: z-score fitted on the training-split engines only; " + (
                "on multi-condition subsets (FD002, FD004) per operating condition, the conditions "
                "found by k-means (k=6, standardised settings) on the training engines."
                if self.condition_normalisation == "auto" else "one z-score per channel on every subset."),
            f"- **Windows**: {windows} cycles; engines shorter than the window are padded at "
            "the front by repeating their first cycle.",
            f"- **Validation**: {self.validation_fraction:.0%} of training engines, chosen by "
            f"engine with seed {self.split_seed} (never by row); model selection and early "
            "stopping use it only.",
            "- **Final fit**: " + (
                "after selection, each trial's model is refit on the training + validation engines "
                "(scaler unchanged) with the selected iteration or epoch count and no validation set, "
                "and that refit predicts the test engines; the validation predictions stored in the "
                "rows come from the selection fit, which never saw those engines."
                if self.refit else "the model selected on the validation engines is the one scored (no refit)."),
            "- **Test**: the last window of each test engine, one prediction per engine.",
            f"- **Truth used for scoring**: `rmse`, `score`, `mae` use the test RUL capped at "
            f"{self.max_rul} (the literature's convention); `rmse_raw` uses the raw values of "
            "`RUL_FD00x.txt`. Nothing derived from the test RUL reaches a model.",
            f"- **Protocol hash**: `{self.hash()}`",
        ])


@dataclass(frozen=True, eq=False)
class EngineSet:
    """Normalised per-engine sequences of one split. Labels exist only for train/valid."""

    subset: str
    units: np.ndarray
    sequences: tuple[np.ndarray, ...]  # each (cycles, channels), float32
    conditions: tuple[np.ndarray, ...]  # operating-condition id per cycle
    channels: tuple[str, ...]
    window: int
    rul: tuple[np.ndarray, ...] | None = None  # capped RUL per cycle; None on test

    def __len__(self) -> int:
        return len(self.sequences)

    @property
    def n_channels(self) -> int:
        return len(self.channels)

    def padded(self, index: int, length: int | None = None) -> np.ndarray:
        """Engine ``index``'s sequence, front-padded (its first cycle repeated) to at least
        ``length`` cycles (default: one window)."""
        seq = self.sequences[index]
        short = (length or self.window) - len(seq)
        return np.concatenate([np.repeat(seq[:1], short, axis=0), seq]) if short > 0 else seq

    def _padded_rul(self, index: int) -> np.ndarray:
        rul = self.rul[index]
        short = self.window - len(rul)
        return np.concatenate([np.repeat(rul[:1], short), rul]) if short > 0 else rul

    def windows(self, history: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """All sliding windows: X (n, history, channels), y (n,) RUL at each window's end
        (NaN on test), and the engine index of each window.

        ``history`` (default: the window) is how many cycles each window reads back from its
        end; the windows end at the same cycles whatever it is, so their labels and number
        do not change. Cycles before an engine's first are its first cycle repeated.
        """
        history = max(history or self.window, self.window)
        if not len(self):
            return (np.zeros((0, history, len(self.channels)), np.float32), np.zeros(0, np.float32),
                    np.zeros(0, int))
        extra = history - self.window
        xs, ys, idx = [], [], []
        for i in range(len(self)):
            seq = self.padded(i, max(len(self.sequences[i]), self.window) + extra)
            view = np.lib.stride_tricks.sliding_window_view(seq, history, axis=0)
            xs.append(view.transpose(0, 2, 1))
            n = view.shape[0]
            ys.append(self._padded_rul(i)[self.window - 1:] if self.rul is not None else np.full(n, np.nan))
            idx.append(np.full(n, i))
        return (np.ascontiguousarray(np.concatenate(xs), dtype=np.float32),
                np.concatenate(ys).astype(np.float32), np.concatenate(idx))

    def last_windows(self, history: int | None = None) -> np.ndarray:
        """The last window of each engine, ``history`` cycles long (default: the window):
        (engines, history, channels)."""
        history = max(history or self.window, self.window)
        return np.stack([self.padded(i, history)[-history:] for i in range(len(self))]).astype(np.float32)

    def last_rul(self) -> np.ndarray:
        """Capped RUL at each engine's last cycle (train/valid only)."""
        if self.rul is None:
            raise ValueError("test engines carry no labels")
        return np.array([r[-1] for r in self.rul], dtype=np.float32)


def join_engines(first: EngineSet, second: EngineSet) -> EngineSet:
    """One labelled engine set holding the engines of both, in engine-id order (the training
    + validation engines a refit trains on). Ids must not repeat: two engines under one id
    would be one engine twice to any adapter that groups by engine."""
    if first.rul is None or second.rul is None:
        raise ValueError("join_engines needs labelled (training or validation) engine sets")
    if (first.subset, first.channels, first.window) != (second.subset, second.channels, second.window):
        raise ValueError("join_engines needs engine sets of one subset, with the same channels and window")
    units = np.concatenate([first.units, second.units])
    if len(np.unique(units)) != len(units):
        both = sorted(set(first.units.tolist()) & set(second.units.tolist()))
        raise ValueError(f"join_engines: engine ids {both} are in both sets")
    order = np.argsort(units, kind="stable")
    pick = lambda parts: tuple(parts[i] for i in order)  # noqa: E731
    return EngineSet(first.subset, units[order], pick(first.sequences + second.sequences),
                     pick(first.conditions + second.conditions), first.channels, first.window,
                     pick(first.rul + second.rul))


@dataclass(frozen=True, eq=False)
class PreparedSubset:
    """What every adapter receives for one subset: train, validation and test engine sets."""

    name: str
    train: EngineSet
    valid: EngineSet
    test: EngineSet
    protocol_hash: str
    data_fingerprint: str
    verified: bool


def capped_rul(cycles: int, protocol: Protocol) -> np.ndarray:
    """Piecewise-linear training labels for an engine that failed after ``cycles`` cycles."""
    remaining = np.arange(cycles - 1, -1, -1) + protocol.rul_at_last_cycle
    return np.minimum(remaining, protocol.max_rul).astype(np.float32)


def split_engines(units: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Split engine ids (not rows) into train and validation ids, seeded."""
    rng = np.random.default_rng(seed)
    shuffled = rng.permutation(units)
    n_valid = max(1, int(round(len(units) * fraction))) if fraction > 0 else 0
    return np.sort(shuffled[n_valid:]), np.sort(shuffled[:n_valid])


class _Normaliser:
    """z-score per operating condition (one condition = plain z-score), fitted on train rows."""

    def __init__(self, n_conditions: int, seed: int):
        self.n_conditions = n_conditions
        self.seed = seed

    def fit(self, settings: np.ndarray, values: np.ndarray) -> _Normaliser:
        if self.n_conditions > 1:
            from scipy.cluster.vq import kmeans2

            # settings live on very different scales (altitude vs Mach): standardise first;
            # best of a few seeded k-means++ starts, like sklearn's n_init
            self.settings_mean_, self.settings_std_ = settings.mean(axis=0), settings.std(axis=0) + 1e-12
            z = (settings - self.settings_mean_) / self.settings_std_
            best = None
            for start in range(5):
                centres, labels = kmeans2(z, self.n_conditions, minit="++", seed=self.seed + start)
                inertia = float(((z - centres[labels]) ** 2).sum())
                if best is None or inertia < best[0]:
                    best = (inertia, centres, labels)
            _, self.centres_, cond = best
        else:
            cond = np.zeros(len(values), dtype=int)
        self.mean_ = np.stack([values[cond == c].mean(axis=0) for c in range(self.n_conditions)])
        std = np.stack([values[cond == c].std(axis=0) for c in range(self.n_conditions)])
        self.std_ = np.where(std > 1e-8, std, 1.0)
        return self

    def condition(self, settings: np.ndarray) -> np.ndarray:
        if self.n_conditions == 1:
            return np.zeros(len(settings), dtype=int)
        from scipy.cluster.vq import vq

        return vq((settings - self.settings_mean_) / self.settings_std_, self.centres_)[0]

    def transform(self, settings: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        cond = self.condition(settings)
        return ((values - self.mean_[cond]) / self.std_[cond]).astype(np.float32), cond


def _engine_set(frame: pd.DataFrame, subset: str, protocol: Protocol, norm: _Normaliser,
                labelled: bool) -> EngineSet:
    settings = frame[list(SETTING_COLUMNS)].to_numpy()
    values, cond = norm.transform(settings, frame[list(protocol.channels)].to_numpy())
    units = frame["unit"].to_numpy()
    if not len(units):  # e.g. no validation engines (validation_fraction 0)
        return EngineSet(subset, units, (), (), protocol.channels, protocol.windows[subset], () if labelled else None)
    bounds = np.flatnonzero(np.r_[True, units[1:] != units[:-1], True])
    seqs = tuple(values[a:b] for a, b in zip(bounds[:-1], bounds[1:]))
    conds = tuple(cond[a:b] for a, b in zip(bounds[:-1], bounds[1:]))
    rul = tuple(capped_rul(len(s), protocol) for s in seqs) if labelled else None
    return EngineSet(subset, units[bounds[:-1]], seqs, conds, protocol.channels,
                     protocol.windows[subset], rul)


def prepare(raw: RawSubset, protocol: Protocol) -> tuple[PreparedSubset, np.ndarray]:
    """Apply the protocol to one raw subset.

    Returns the prepared subset (given to adapters) and, separately, the raw test RUL
    (kept by the runner for scoring only).
    """
    train_units, valid_units = split_engines(
        raw.train["unit"].unique(), protocol.validation_fraction, protocol.split_seed)
    train_rows = raw.train[raw.train["unit"].isin(train_units)]
    valid_rows = raw.train[raw.train["unit"].isin(valid_units)]
    multi = OPERATING_CONDITIONS[raw.name] > 1 and protocol.condition_normalisation == "auto"
    norm = _Normaliser(OPERATING_CONDITIONS[raw.name] if multi else 1, protocol.split_seed).fit(
        train_rows[list(SETTING_COLUMNS)].to_numpy(), train_rows[list(protocol.channels)].to_numpy())
    fingerprint = hashlib.sha256(json.dumps(raw.checksums, sort_keys=True).encode()).hexdigest()[:12]
    prepared = PreparedSubset(
        name=raw.name,
        train=_engine_set(train_rows, raw.name, protocol, norm, labelled=True),
        valid=_engine_set(valid_rows, raw.name, protocol, norm, labelled=True),
        test=_engine_set(raw.test, raw.name, protocol, norm, labelled=False),
        protocol_hash=protocol.hash(),
        data_fingerprint=fingerprint,
        verified=raw.verified,
    )
    return prepared, raw.test_rul.copy()
