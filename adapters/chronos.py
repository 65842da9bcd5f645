"""Chronos (Bolt) encoder embeddings of each channel's window, with a ridge regression head."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from adapters.features import subsample_indices
from study.contract.adapter import Adapter, AdapterUnavailable
from study.contract.search_space import Categorical
from study.data.protocol import EngineSet
from study.data.scoring import rmse

HOW_TO_GET_WEIGHTS = (
    "On a connected machine run `huggingface-cli download {model} --local-dir /path/{short}` "
    "(or let the hub cache fill, then copy ~/.cache/huggingface), then pass "
    "`--chronos-model /path/{short}` (same as --set chronos.model=/path/{short})."
)


def resolve_weights(model: str) -> str:
    """A local folder holding ``model``'s weights: the path itself, or its snapshot in the
    Hugging Face cache. Downloads only when HF_HUB_OFFLINE is unset; raises
    ``AdapterUnavailable`` (with how to get the weights) when they cannot be had."""
    if Path(model).expanduser().is_dir():
        folder = Path(model).expanduser()
        if not (folder / "config.json").is_file():
            raise AdapterUnavailable(f"{folder} is a folder but holds no config.json: not a Chronos model folder")
        return str(folder)
    from huggingface_hub import snapshot_download

    offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")
    short = model.rstrip("/").split("/")[-1]
    try:
        return snapshot_download(model, local_files_only=offline, allow_patterns=["*.json", "*.safetensors"])
    except Exception as exc:  # no cache entry, invalid id, no network: all mean "not here"
        where = "are not in the local Hugging Face cache and HF_HUB_OFFLINE is set" if offline else \
            f"could not be downloaded ({type(exc).__name__})"
        raise AdapterUnavailable(
            f"Chronos weights {model!r} {where}. " + HOW_TO_GET_WEIGHTS.format(model=model, short=short)
        ) from exc


class ChronosEmbeddingAdapter(Adapter):
    """Frozen Chronos encoder as a feature extractor (formulation ``embedding+head``).

    Each channel of a window is embedded separately (Chronos is univariate); the patch
    embeddings are mean-pooled, and the per-window scale statistics Chronos-Bolt removes by
    instance normalisation (loc, scale) are appended, so the level of each sensor is not
    lost. The channel vectors are concatenated and a standardised ridge regression maps
    them to RUL; its penalty is chosen on the engine-disjoint validation engines. Weights are
    loaded from a local folder or the Hugging Face cache, never replaced by random ones.
    """

    name = "chronos"
    tags = {
        "library": "chronos-forecasting",
        "family": "time-series foundation model (frozen encoder)",
        "formulation": "embedding+head",
        "python_dependencies": ["chronos", "transformers", "torch"],
        "import_modules": ["chronos"],
        "install_extra": "chronos",
        "needs_weights": True,
        "conversions": 2,  # windows -> (n*channels, time) tensor -> pooled (n, channels*features)
        "workarounds": [
            "one univariate series per channel, pooled and concatenated: Chronos has no multivariate input",
            "loc/scale appended to the embeddings: Chronos-Bolt's instance normalisation removes each "
            "window's level, which carries most of the degradation signal",
            "weights resolved from a local folder or the HF cache before loading (skipped row otherwise): "
            "offline, from_pretrained retries for ~23 s then raises OSError",
            "training windows subsampled (seeded): embedding costs ~1 s per 1000 series with Bolt-small on CPU",
        ],
    }
    default_params = {
        "model": "amazon/chronos-bolt-small",
        "max_windows": 4000,
        "max_valid_windows": 1500,
        "batch_size": 512,
        "alphas": [0.1, 1.0, 10.0, 100.0, 1000.0, 10000.0],
        # how each channel's patch embeddings become one vector: "mean" over patches, or
        # "mean+last" (the mean and the last patch, which sees the newest cycles, concatenated)
        "pooling": "mean",
    }
    param_ranges = {"max_windows": (1, None), "max_valid_windows": (1, None), "batch_size": (1, None)}
    profiles = {"smoke": {"max_windows": 200, "max_valid_windows": 100, "batch_size": 256,
                          "alphas": [1.0, 100.0]},
                "default": {}}
    # the ridge penalty is picked from ``alphas`` on the validation engines; the space offers
    # the default grid, a weaker and a stronger one
    search_space = {"pooling": Categorical(("mean", "mean+last")),
                    "alphas": Categorical(([0.1, 1.0, 10.0, 100.0, 1000.0, 10000.0],
                                           [0.001, 0.01, 0.1, 1.0, 10.0],
                                           [1000.0, 10000.0, 100000.0, 1000000.0]))}

    def _fit(self, train: EngineSet, valid: EngineSet | None) -> None:
        import torch
        from chronos import BaseChronosPipeline

        folder = resolve_weights(self.params["model"])
        self.context.progress(f"loading {self.params['model']}")
        self.pipeline_ = BaseChronosPipeline.from_pretrained(folder, device_map="cpu", dtype=torch.float32)
        x, y, _ = train.windows()
        keep = subsample_indices(len(x), self.params["max_windows"], self.seed)
        self.context.progress(f"embedding {len(keep)} training windows")
        features = self._embed(x[keep])
        y = y[keep]
        self.scaler_mean_ = features.mean(axis=0)
        self.scaler_std_ = np.where(features.std(axis=0) > 1e-8, features.std(axis=0), 1.0)
        if valid is not None and len(valid):
            xv, yv, _ = valid.windows()
            pick = subsample_indices(len(xv), self.params["max_valid_windows"], self.seed + 1)
            valid_features, yv = self._embed(xv[pick]), yv[pick]
        else:
            valid_features, yv = None, None
        self.alpha_, scores = self._fit_head(features, y, valid_features, yv)
        self.info_ = {"alpha": self.alpha_, "valid_rmse_by_alpha": scores, "n_features": int(features.shape[1]),
                      "n_train_windows": int(len(keep)), "weights": folder,
                      "n_parameters": int(sum(p.numel() for p in self.pipeline_.model.parameters()))}

    def _embed(self, windows: np.ndarray) -> np.ndarray:
        """(n, time, channels) windows -> (n, channels * (d_model + 2)) pooled features
        (``mean+last`` pooling: channels * (2 d_model + 2))."""
        import torch

        n, length, channels = windows.shape
        series = torch.from_numpy(np.ascontiguousarray(windows.transpose(0, 2, 1).reshape(n * channels, length)))
        chunks = []
        for start in range(0, len(series), self.params["batch_size"]):
            emb, (loc, scale) = self.pipeline_.embed(series[start:start + self.params["batch_size"]])
            patches = emb[:, :-1, :] if emb.shape[1] > 1 else emb[:, :1, :]  # drop [REG]/EOS
            pooled = patches.mean(dim=1)
            if self.params["pooling"] == "mean+last":
                pooled = torch.cat([pooled, patches[:, -1, :]], dim=1)
            elif self.params["pooling"] != "mean":
                raise ValueError(f"pooling must be 'mean' or 'mean+last', got {self.params['pooling']!r}")
            chunks.append(torch.cat([pooled, loc[:, None], scale[:, None]], dim=1).float().numpy())
        return np.concatenate(chunks).reshape(n, -1)

    def _fit_head(self, features, y, valid_features, yv) -> tuple[float, dict[str, float]]:
        from sklearn.linear_model import Ridge

        z = (features - self.scaler_mean_) / self.scaler_std_
        alphas = list(self.params["alphas"])
        scores: dict[str, float] = {}
        if valid_features is not None and len(alphas) > 1:
            zv = (valid_features - self.scaler_mean_) / self.scaler_std_
            for alpha in alphas:
                head = Ridge(alpha=alpha).fit(z, y)
                scores[str(alpha)] = rmse(yv, head.predict(zv))
            best = min(alphas, key=lambda a: scores[str(a)])
        else:
            best = alphas[len(alphas) // 2]
        self.head_ = Ridge(alpha=best).fit(z, y)
        return float(best), scores

    def _predict(self, test: EngineSet) -> np.ndarray:
        z = (self._embed(test.last_windows()) - self.scaler_mean_) / self.scaler_std_
        return self.head_.predict(z)

    @classmethod
    def check_params(cls, workdir: Path) -> dict:
        """The check kit's settings: pretrained weights cannot be assumed (no network in CI),
        so a tiny randomly initialised Chronos-Bolt model saved in ``workdir`` stands in.
        Random weights only ever test the plumbing; a study never falls back to them."""
        params = cls.test_params()
        if cls.unavailable_reason() is None:
            params["model"] = str(build_tiny_random_model(workdir / "tiny-chronos-bolt"))
        return params


def build_tiny_random_model(folder: Path) -> Path:
    """Save a randomly initialised micro Chronos-Bolt model (d_model 8) as a local model
    folder, for tests only (seeded, so every test gets the same one)."""
    if (folder / "config.json").is_file():
        return folder
    import torch
    from chronos.chronos_bolt import ChronosBoltModelForForecasting
    from transformers import T5Config

    config = T5Config(
        d_model=8, d_ff=16, d_kv=4, num_heads=2, num_layers=2, num_decoder_layers=2, vocab_size=2,
        pad_token_id=0, eos_token_id=1, decoder_start_token_id=0,
        architectures=["ChronosBoltModelForForecasting"], chronos_pipeline_class="ChronosBoltPipeline",
        chronos_config={"context_length": 64, "prediction_length": 16, "input_patch_size": 16,
                        "input_patch_stride": 16, "quantiles": [0.1, 0.5, 0.9], "use_reg_token": True},
    )
    state = torch.random.get_rng_state()
    torch.manual_seed(0)
    try:
        ChronosBoltModelForForecasting(config).save_pretrained(folder)
    finally:
        torch.random.set_rng_state(state)
    return folder
