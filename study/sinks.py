"""Optional places a finished trial row is also sent to (the JSONL store is always written)."""
from __future__ import annotations

import json
from typing import Any

from study.errors import StudyError

METRICS = ("rmse", "rmse_raw", "mae", "score", "score_mean", "rmse_ci_low", "rmse_ci_high",
           "fit_seconds", "predict_seconds", "wall_seconds", "peak_rss_mb", "n_warnings")


class MlflowSink:
    """Logs each trial as an MLflow run: params, metrics, status tags and the row as an artifact."""

    def __init__(self, tracking_uri: str, experiment: str = "cmapss-study"):
        try:
            import mlflow
        except ImportError as exc:
            raise StudyError("--mlflow needs MLflow: pip install -e '.[mlflow]'.") from exc
        self.mlflow = mlflow
        mlflow.set_tracking_uri(tracking_uri)
        mlflow.set_experiment(experiment)

    def log(self, row: dict[str, Any]) -> None:
        mlflow = self.mlflow
        name = f"{row['model']}-{row['subset']}-seed{row['seed']}"
        with mlflow.start_run(run_name=name):
            mlflow.set_tags({"status": row["status"], "model": row["model"], "subset": row["subset"],
                             "trial_key": row["key"], "reason": str(row.get("reason") or "")[:250]})
            params = {"seed": row["seed"], "protocol_hash": row.get("protocol_hash"),
                      "data_fingerprint": row.get("data_fingerprint"),
                      **{f"param.{k}": json.dumps(v, default=str)[:250] for k, v in (row.get("params") or {}).items()}}
            mlflow.log_params(params)
            metrics = {k: float(row[k]) for k in METRICS if isinstance(row.get(k), (int, float))}
            if metrics:
                mlflow.log_metrics(metrics)
            mlflow.log_dict(row, "trial_row.json")
