"""The hashes that identify a trial and its configuration: pure functions of what they are
given, below the store and the migration so both can use them (``study.records.store`` names
them for its callers; ``study.records.migration`` decides which parameters go in)."""
from __future__ import annotations

import hashlib
import json
from typing import Any


def digest(parts: list[Any]) -> str:
    """A short stable hash of JSON-able parts (dict keys sorted): every key in the study (trial,
    configuration, ensemble, tuning study) is one, so equal inputs give equal keys everywhere."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def trial_key(model: str, params: dict[str, Any], subset: str, seed: int,
              protocol_hash: str, data_fingerprint: str) -> str:
    """Identity of a trial: same key, same experiment (so its result can be reused). ``params``:
    as the key hashes them (``study.records.migration.key_params``)."""
    return digest([model, params, subset, seed, protocol_hash, data_fingerprint])


def config_key(model: str, params: dict[str, Any], subset: str, protocol_hash: str | None,
               data_fingerprint: str | None) -> str:
    """Identity of a trial's configuration: its key without the seed. The rows one
    leaderboard line averages share it (``params`` as hashed into the trial key)."""
    return digest([model, params, subset, protocol_hash, data_fingerprint])


__all__ = ["digest", "trial_key", "config_key"]
