"""Optional places a finished trial row is also sent to (the JSONL store is always written)."""
from __future__ import annotations

import json
import os
from typing import Any

from study.core.errors import EnvironmentFault, StudyError
from study.records.rows import COST_FIELDS, METRIC_FIELDS, Field, variant

METRICS = (*METRIC_FIELDS, *COST_FIELDS, Field.WALL_SECONDS, Field.PEAK_RSS_MB, Field.N_WARNINGS)


def _unusable(uri: str, exc: Exception) -> StudyError:
    """A tracking URI MLflow refused: exit 1 if it could not be reached, 2 if it is not usable as given."""
    reason = " ".join(str(exc).split())
    reason = reason.split(". ")[0][:300] or type(exc).__name__
    unreachable = isinstance(exc, OSError) or any(word in reason for word in ("Connection", "connect", "timed out",
                                                                            "API request"))
    kind = EnvironmentFault if unreachable else StudyError
    return kind(f"--mlflow {uri} cannot be used: {reason}. Give a tracking URI MLflow can write to (e.g. "
                "sqlite:///mlflow.db, or the http:// address of a running tracking server), or drop --mlflow: "
                "trials.jsonl holds every result either way.")


class MlflowSink:
    """Logs each trial as an MLflow run: params, metrics, status tags and the row as an artifact."""

    def __init__(self, tracking_uri: str, experiment: str = "cmapss-study"):
        try:
            import mlflow
        except ImportError as exc:
            raise StudyError("--mlflow needs MLflow: pip install -e '.[mlflow]'.") from exc
        self.mlflow = mlflow
        # a server that does not answer is reported in seconds, not after minutes of retries
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "20")
        try:  # checked before any trial runs: a bad URI is refused, not found out per row
            mlflow.set_tracking_uri(tracking_uri)
            mlflow.set_experiment(experiment)
        except Exception as exc:
            raise _unusable(tracking_uri, exc) from exc

    def log(self, row: dict[str, Any]) -> None:
        mlflow = self.mlflow
        name = f"{row[Field.MODEL]}-{row[Field.SUBSET]}-seed{row[Field.SEED]}"
        with mlflow.start_run(run_name=name):
            mlflow.set_tags({Field.STATUS: row[Field.STATUS], Field.MODEL: row[Field.MODEL],
                             Field.SUBSET: row[Field.SUBSET], Field.VARIANT: variant(row),
                             "trial_key": row[Field.KEY], Field.REASON: str(row.get(Field.REASON) or "")[:250]})
            params = {Field.SEED: row[Field.SEED], Field.PROTOCOL_HASH: row.get(Field.PROTOCOL_HASH),
                      Field.DATA_FINGERPRINT: row.get(Field.DATA_FINGERPRINT),
                      **{f"param.{k}": json.dumps(v, default=str)[:250]
                         for k, v in (row.get(Field.PARAMS) or {}).items()}}
            mlflow.log_params(params)
            metrics = {k: float(row[k]) for k in METRICS if isinstance(row.get(k), (int, float))}
            if metrics:
                mlflow.log_metrics(metrics)
            mlflow.log_dict(row, "trial_row.json")
