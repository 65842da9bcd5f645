"""Our PyTorch regressors (LSTM, Transformer, Mamba) and their shared trainer: shapes,
determinism, the selective scan against step-by-step references, and learning."""
from __future__ import annotations

import importlib.util
import sys
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from adapters._torch.mamba import (MambaBlock, MambaRegressor, mamba_ssm_scan_fn,  # noqa: E402
                                   selective_scan, selective_scan_naive, selective_scan_torch)
from adapters._torch.nets import LSTMRegressor, TransformerRegressor  # noqa: E402
from adapters._torch.trainer import TrainConfig, predict_windows, train_regressor  # noqa: E402
from adapters.lstm import LSTMAdapter  # noqa: E402
from adapters.mamba import MambaAdapter  # noqa: E402
from adapters.transformer import TransformerAdapter  # noqa: E402
from study.contract.adapter import AdapterError  # noqa: E402
from study.core.environment import NUMERICS_FLAGS, cpu_facts, cpu_has_native_bfloat16  # noqa: E402

ADAPTERS = [LSTMAdapter, TransformerAdapter, MambaAdapter]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def scan_inputs(batch=3, d_inner=6, d_state=4, length=11, dtype=torch.float64, seed=0):
    """Random selective-scan arguments in mamba_ssm's layout, with gradients enabled."""
    g = torch.Generator().manual_seed(seed)
    shapes = {"u": (batch, d_inner, length), "delta": (batch, d_inner, length), "A": (d_inner, d_state),
              "B": (batch, d_state, length), "C": (batch, d_state, length), "D": (d_inner,),
              "z": (batch, d_inner, length), "delta_bias": (d_inner,)}
    args = {k: torch.randn(*s, generator=g, dtype=dtype) for k, s in shapes.items()}
    args["A"] = -torch.rand(d_inner, d_state, generator=g, dtype=dtype) * 2.0
    return {k: v.requires_grad_() for k, v in args.items()}


def assert_same_gradients(out, reference, args, tolerance):
    """Both outputs have the same gradient with respect to every scan argument."""
    weights = torch.randn_like(reference)
    names = list(args)
    grads = torch.autograd.grad((out * weights).sum(), [args[n] for n in names])
    expected = torch.autograd.grad((reference * weights).sum(), [args[n] for n in names])
    for name, a, b in zip(names, grads, expected):
        torch.testing.assert_close(a, b, atol=tolerance, rtol=tolerance, msg=lambda m, name=name: f"d/d{name}: {m}")


def nets(n_channels=5, window=12):
    return {
        "lstm": LSTMRegressor(n_channels, hidden_size=8, num_layers=2, head_size=4),
        "transformer": TransformerRegressor(n_channels, window, d_model=8, n_heads=2, n_layers=1,
                                            dim_feedforward=16, head_size=8),
        "mamba": MambaRegressor(n_channels, d_model=8, n_layers=2, d_state=4, head_size=8),
    }


# ----- the selective scan ----------------------------------------------------------------
@pytest.mark.parametrize("softplus", [False, True])
def test_scan_matches_naive_reference_values_and_gradients(softplus):
    args = scan_inputs()
    ours = selective_scan_torch(**args, delta_softplus=softplus)
    naive = selective_scan_naive(**args, delta_softplus=softplus)
    assert ours.shape == (3, 6, 11)
    torch.testing.assert_close(ours, naive, atol=1e-10, rtol=1e-10)
    assert_same_gradients(ours, naive, args, tolerance=1e-9)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_scan_without_gradients_gives_the_training_scan_values_exactly(dtype):
    """Inference (validation, predict) skips the saved states; it must not change a number."""
    args = scan_inputs(batch=5, d_inner=8, d_state=4, length=17, dtype=dtype)
    trained = selective_scan_torch(**args, delta_softplus=True)
    assert trained.requires_grad
    with torch.no_grad():
        inferred = selective_scan_torch(**args, delta_softplus=True)
    assert not inferred.requires_grad
    torch.testing.assert_close(inferred, trained.detach(), atol=0.0, rtol=0.0)
    torch.testing.assert_close(inferred, selective_scan_naive(**args, delta_softplus=True).detach(),
                               atol=1e-5 if dtype == torch.float32 else 1e-10, rtol=1e-5)


def test_scan_float32_matches_float64_reference_to_1e5():
    args = {k: v.detach() for k, v in scan_inputs(batch=8, d_inner=16, d_state=8, length=30).items()}
    reference = selective_scan_naive(**args, delta_softplus=True)
    ours = selective_scan_torch(**{k: v.float() for k, v in args.items()}, delta_softplus=True)
    assert ours.dtype == torch.float32
    np.testing.assert_allclose(ours.double().numpy(), reference.numpy(), atol=1e-5, rtol=1e-5)


def test_scan_dispatch_uses_ours_on_cpu_and_rejects_unknown_backend():
    args = {k: v.detach().float() for k, v in scan_inputs().items()}
    torch.testing.assert_close(selective_scan(**args, backend="auto"), selective_scan_torch(**args))
    with pytest.raises(ValueError, match="scan backend"):
        selective_scan(**args, backend="cuda-magic")
    with pytest.raises(RuntimeError, match="mamba-ssm"):
        selective_scan(**args, backend="mamba_ssm")  # CPU tensors never go to the CUDA kernel


def test_cpu_machine_never_imports_cuda_only_code():
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA; the lazy-import guard is what is tested here")
    assert mamba_ssm_scan_fn() is None
    MambaRegressor(4, d_model=8, n_layers=1)(torch.randn(2, 5, 4))
    assert not any(name.startswith("mamba_ssm") for name in sys.modules)


def test_scan_matches_mamba_ssm_selective_scan_ref():
    try:
        from mamba_ssm.ops.selective_scan_interface import selective_scan_ref
    except Exception as exc:  # the package needs its CUDA extension even to import
        pytest.skip(f"mamba_ssm's selective_scan_ref not importable here ({type(exc).__name__}: {exc}); "
                    "install the mamba-cuda extra on a CUDA machine to run this check")
    args = {k: v.detach().float() for k, v in scan_inputs(batch=4, d_inner=8, d_state=6, length=30).items()}
    expected = selective_scan_ref(args["u"], args["delta"], args["A"], args["B"], args["C"], args["D"],
                                  args["z"], args["delta_bias"], True)
    torch.testing.assert_close(selective_scan_torch(**args, delta_softplus=True), expected, atol=1e-5, rtol=1e-5)


needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(),
                                reason="CUDA path: runs on a GPU machine (see README, 'GPU check')")


@needs_cuda
def test_mamba_ssm_kernel_matches_our_scan_on_cuda():
    fn = mamba_ssm_scan_fn()
    if fn is None:
        pytest.skip("mamba-ssm (its CUDA extension) is not installed on this GPU machine")
    args = {k: v.detach().float().cuda().requires_grad_()
            for k, v in scan_inputs(batch=4, d_inner=16, d_state=8, length=30).items()}
    ours = selective_scan(**args, delta_softplus=True, backend="torch")
    kernel = selective_scan(**args, delta_softplus=True, backend="mamba_ssm")
    torch.testing.assert_close(kernel, ours, atol=1e-4, rtol=1e-4)
    assert_same_gradients(kernel, ours, args, tolerance=1e-3)


@needs_cuda
@pytest.mark.parametrize("name", ["lstm", "transformer", "mamba"])
def test_nets_give_the_same_output_on_cuda_and_cpu(name):
    torch.manual_seed(0)
    net = nets()[name].eval()
    x = torch.randn(7, 12, 5)
    expected = net(x)
    got = net.cuda()(x.cuda()).cpu()
    torch.testing.assert_close(got, expected, atol=1e-3, rtol=1e-3)  # cuDNN may use TF32


def test_mamba_block_is_causal():
    torch.manual_seed(0)
    block = MambaBlock(8, d_state=4).eval()
    x = torch.randn(2, 10, 8)
    changed = x.clone()
    changed[:, 6:] += 1.0
    out, out_changed = block(x), block(changed)
    torch.testing.assert_close(out[:, :6], out_changed[:, :6])
    assert not torch.allclose(out[:, 6:], out_changed[:, 6:])


# ----- the nets ----------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["lstm", "transformer", "mamba"])
def test_net_maps_windows_to_one_output_each(name):
    torch.manual_seed(0)
    net = nets()[name]
    out = net(torch.randn(7, 12, 5))
    assert out.shape == (7,)
    assert torch.isfinite(out).all()


@pytest.mark.slow
@pytest.mark.parametrize("name", ["lstm", "transformer", "mamba"])
def test_each_net_overfits_a_tiny_set(name):
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 12, 5)).astype(np.float32)
    y = (60 + 40 * np.tanh(x[:, -4:, :2].sum(axis=(1, 2)))).astype(np.float32)
    net = nets()[name]
    config = TrainConfig(epochs=60, batch_size=32, windows_per_epoch=64, lr=1e-2, weight_decay=0.0,
                         schedule="constant", patience=1000, label_scale=125.0)
    result = train_regressor(net, x, y, None, None, config, seed=0)
    first, last = result.history[0]["train_rmse"], result.history[-1]["train_rmse"]
    net.eval()
    fitted = predict_windows(net, x)
    assert last < 0.35 * first, (first, last)
    assert np.sqrt(np.mean((fitted - y) ** 2)) < 0.5 * y.std()


needs_native_bf16 = pytest.mark.skipif(
    not cpu_has_native_bfloat16(),
    reason=f"this CPU ({cpu_facts()['cpu_model']}) has no native bfloat16 (avx512_bf16/amx_bf16): "
           "bf16 is refused there (test_bfloat16_is_refused_without_native_support)")


@needs_native_bf16
@pytest.mark.parametrize("name", ["lstm", "transformer", "mamba"])
def test_bfloat16_autocast_trains_every_net_on_the_cpu(name):
    """precision="bf16" really runs the forward pass in bfloat16 (the predictions differ from
    float32's on the same weights, by little), and still trains: the loss falls well."""
    x, y = _toy_regression(n=64)
    torch.manual_seed(0)
    net = nets(n_channels=3, window=8)[name]
    config = TrainConfig(epochs=25, batch_size=32, windows_per_epoch=64, lr=1e-2, weight_decay=0.0,
                         schedule="constant", patience=1000, precision="bf16")
    result = train_regressor(net, x, y, None, None, config, seed=0)
    assert result.history[-1]["train_rmse"] < 0.5 * result.history[0]["train_rmse"]
    half, full = predict_windows(net, x, precision="bf16"), predict_windows(net, x)
    assert np.isfinite(half).all() and not np.array_equal(half, full)
    assert np.abs(half - full).max() < 0.05 * (np.abs(full).max() + 1.0)


def test_unusable_precisions_fail_before_training():
    x, y = _toy_regression(n=32)
    net = LSTMRegressor(3, hidden_size=4, num_layers=1, head_size=2)
    for precision, message in (("fp16", "needs a CUDA device"), ("half", "precision must be one of")):
        with pytest.raises(ValueError, match=message):
            train_regressor(net, x, y, None, None, TrainConfig(epochs=1, precision=precision), seed=0)


@needs_cuda
@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_mixed_precision_trains_on_cuda(precision):
    x, y = _toy_regression(n=64)
    torch.manual_seed(0)
    net = nets(n_channels=3, window=8)["mamba"]
    config = TrainConfig(epochs=25, batch_size=32, windows_per_epoch=64, lr=1e-2, weight_decay=0.0,
                         schedule="constant", patience=1000, precision=precision)
    result = train_regressor(net, x, y, None, None, config, seed=0, device="cuda")
    assert result.history[-1]["train_rmse"] < 0.5 * result.history[0]["train_rmse"]
    assert np.isfinite(predict_windows(net, x, "cuda", precision=precision)).all()


def test_trainer_keeps_the_best_validation_epoch_and_stops_early():
    torch.manual_seed(0)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(64, 8, 3)).astype(np.float32)
    y = rng.uniform(0, 125, size=64).astype(np.float32)  # noise: validation stops improving quickly
    xv = rng.normal(size=(32, 8, 3)).astype(np.float32)
    yv = rng.uniform(0, 125, size=32).astype(np.float32)
    net = LSTMRegressor(3, hidden_size=8, num_layers=1, head_size=4)
    config = TrainConfig(epochs=200, batch_size=32, lr=1e-2, patience=3)
    result = train_regressor(net, x, y, xv, yv, config, seed=0)
    assert result.epochs_run < 200 and "early stop" in result.stopped
    best = min(h["valid_rmse"] for h in result.history)
    assert result.best_valid_rmse == pytest.approx(best)
    assert result.history[result.best_epoch - 1]["valid_rmse"] == pytest.approx(best)
    kept = np.sqrt(np.mean((np.clip(predict_windows(net, xv), 0, None) - yv) ** 2))
    assert kept == pytest.approx(best, rel=1e-5)  # the checkpoint in the model is the best one


def _toy_regression(seed=0, n=96):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 8, 3)).astype(np.float32)
    return x, (60 + 40 * np.tanh(x[:, -2:, 0].sum(axis=1))).astype(np.float32)


def test_trainer_keeps_the_moving_average_of_the_weights():
    x, y = _toy_regression()
    kept = {}
    for decay in (0.0, 0.9999):
        torch.manual_seed(0)
        net = LSTMRegressor(3, hidden_size=8, num_layers=1, head_size=4)
        before = predict_windows(net, x)
        config = TrainConfig(epochs=5, batch_size=32, lr=1e-2, ema_decay=decay, schedule="constant")
        train_regressor(net, x, y, x, y, config, seed=0)
        kept[decay] = np.abs(predict_windows(net, x) - before).max()
    # an average that barely moves stays near its start (the weights after the first step);
    # the live weights moved far
    assert kept[0.9999] < 0.3 * kept[0.0], kept


def test_input_noise_is_seeded_and_changes_training():
    x, y = _toy_regression()

    def fit(noise, seed):
        torch.manual_seed(0)
        net = LSTMRegressor(3, hidden_size=8, num_layers=1, head_size=4)
        config = TrainConfig(epochs=3, batch_size=32, lr=1e-2, input_noise=noise)
        train_regressor(net, x, y, None, None, config, seed=seed)
        return predict_windows(net, x)

    np.testing.assert_array_equal(fit(0.1, seed=1), fit(0.1, seed=1))
    assert not np.allclose(fit(0.1, seed=1), fit(0.1, seed=2))
    assert not np.allclose(fit(0.1, seed=1), fit(0.0, seed=1))


def test_trainer_stops_when_time_budget_is_nearly_used():
    x = np.zeros((32, 4, 2), np.float32)
    y = np.ones(32, np.float32)
    config = TrainConfig(epochs=10_000, batch_size=32, time_budget_s=0.3)
    result = train_regressor(LSTMRegressor(2, hidden_size=4, num_layers=1, head_size=2), x, y, x, y, config, seed=0)
    assert result.epochs_run < 10_000 and result.stopped.startswith("time budget")


# ----- the adapters --------------------------------------------------------------------
@pytest.fixture(scope="module")
def seed_3_fit():
    """One fit per network at seed 3, with its progress lines, for the tests that only read it."""
    cache: dict = {}

    def fit(cls, prepared):
        if cls not in cache:
            messages: list[str] = []
            adapter = cls(seed=3, **cls.test_params())
            adapter.context.progress = messages.append
            cache[cls] = adapter.fit(prepared.train, prepared.valid), messages
        return cache[cls]
    return fit


@pytest.mark.parametrize("cls", ADAPTERS, ids=lambda c: c.name)
def test_adapter_fits_predicts_and_reports(cls, synthetic_prepared, seed_3_fit):
    prepared, _ = synthetic_prepared
    adapter, messages = seed_3_fit(cls, prepared)
    pred = adapter.predict(prepared.test)
    assert pred.shape == (len(prepared.test),) and (pred >= 0).all()
    info = adapter.info_
    assert info["n_parameters"] > 0 and info["device"] == ("cuda" if torch.cuda.is_available() else "cpu")
    assert 1 <= info["best_epoch"] <= info["epochs_run"]
    assert any(m.startswith("epoch 1/") for m in messages)
    assert cls.tags["library"] == "torch (ours)" and cls.tags["needs_weights"] is False


@pytest.mark.slow
@pytest.mark.parametrize("cls", ADAPTERS, ids=lambda c: c.name)
def test_same_seed_gives_identical_predictions(cls, synthetic_prepared, seed_3_fit):
    prepared, _ = synthetic_prepared
    runs = [seed_3_fit(cls, prepared)[0].predict(prepared.test)]
    runs += [cls(seed=seed, **cls.test_params()).fit(prepared.train, prepared.valid).predict(prepared.test)
             for seed in (3, 4)]
    np.testing.assert_array_equal(runs[0], runs[1])
    assert not np.array_equal(runs[0], runs[2])


def test_bfloat16_is_refused_without_native_support(monkeypatch):
    """On a CPU without native bfloat16 a bf16 fit fails before training, with the reason (and
    not with oneDNN's "could not create a primitive descriptor" from inside the LSTM)."""
    import adapters._torch.trainer as trainer

    monkeypatch.setattr(trainer, "cpu_has_native_bfloat16", lambda: False)
    x, y = _toy_regression(n=32)
    net = LSTMRegressor(3, hidden_size=4, num_layers=1, head_size=2)
    with pytest.raises(ValueError, match="no native bfloat16"):
        train_regressor(net, x, y, None, None, TrainConfig(epochs=1, precision="bf16"), seed=0)
    assert not any(isinstance(p.grad, torch.Tensor) for p in net.parameters())  # nothing trained


def test_cpu_facts_name_the_numerics_flags():
    facts = cpu_facts()
    assert facts["cpu_model"] and set(facts["cpu_flags"]) <= set(NUMERICS_FLAGS)
    assert cpu_has_native_bfloat16() == bool({"avx512_bf16", "amx_bf16"} & set(facts["cpu_flags"]))


@pytest.mark.slow
@needs_native_bf16
def test_the_adapters_precision_reaches_training_and_prediction(synthetic_prepared):
    prepared, _ = synthetic_prepared
    params = MambaAdapter.test_params()
    half = [MambaAdapter(seed=0, **{**params, "precision": "bf16"}).fit(prepared.train, prepared.valid)
            for _ in range(2)]
    full = MambaAdapter(seed=0, **params).fit(prepared.train, prepared.valid)
    assert half[0].info_["precision"] == "bf16" and full.info_["precision"] == "fp32"
    np.testing.assert_array_equal(half[0].predict(prepared.test), half[1].predict(prepared.test))  # still seeded
    assert not np.array_equal(half[0].predict(prepared.test), full.predict(prepared.test))
    with pytest.raises(ValueError, match="needs a CUDA device"):
        MambaAdapter(seed=0, **{**params, "precision": "fp16", "device": "cpu"}).fit(prepared.train, prepared.valid)


def test_ensemble_predicts_the_mean_of_its_nets_each_a_plain_fit_of_its_own_seed(synthetic_prepared):
    """ensemble=k trains k nets from seeds (trial seed x k + member) and predicts their mean:
    each net is exactly the single-net fit of that seed, so ensemble=1 is the plain model."""
    prepared, _ = synthetic_prepared
    params = LSTMAdapter.test_params()
    messages = []
    ensemble = LSTMAdapter(seed=1, **{**params, "ensemble": 2})
    ensemble.context.progress = messages.append
    ensemble.fit(prepared.train, prepared.valid)
    singles = [LSTMAdapter(seed=seed, **params).fit(prepared.train, prepared.valid) for seed in (2, 3)]
    preds = [single.predict(prepared.test) for single in singles]
    assert not np.array_equal(preds[0], preds[1])
    np.testing.assert_allclose(ensemble.predict(prepared.test), np.mean(preds, axis=0), rtol=1e-6)
    info = ensemble.info_
    assert info["n_members"] == 2 and len(info["members"]) == 2
    assert info["n_parameters"] == 2 * singles[0].info_["n_parameters"]
    assert info["member_valid_rmse"] == [single.info_["best_valid_rmse"] for single in singles]
    x_valid, y_valid = ensemble._inputs(prepared.valid, last_only=False), prepared.valid.windows()[1]
    mean_valid = np.mean([single.predict_windows(x_valid) for single in singles], axis=0)
    assert info["best_valid_rmse"] == pytest.approx(float(np.sqrt(np.mean((mean_valid - y_valid) ** 2))), rel=1e-5)
    assert any(m.startswith("net 2/2: epoch 1/") for m in messages)
    with pytest.raises(AdapterError, match="ensemble must be >= 1"):
        LSTMAdapter(seed=0, **{**params, "ensemble": 0}).fit(prepared.train, prepared.valid)


def test_cycle_channel_adds_one_input_channel(synthetic_prepared):
    prepared, _ = synthetic_prepared
    adapter = LSTMAdapter(seed=0, **{**LSTMAdapter.test_params(), "cycle_channel": True})
    adapter.fit(prepared.train, prepared.valid)
    x = adapter._inputs(prepared.test, last_only=True)
    assert x.shape[-1] == prepared.test.n_channels + 1
    assert adapter.predict(prepared.test).shape == (len(prepared.test),)


@pytest.mark.parametrize("setting, used", [(["FD002", "FD003", "FD004"], False), (["FD001"], True),
                                           ("FD001,FD004", True), ("FD002", False), (True, True),
                                           (False, False), ("false", False)])
def test_cycle_channel_applies_to_the_listed_subsets_only(synthetic_prepared, setting, used):
    prepared, _ = synthetic_prepared  # an FD001-format subset
    adapter = LSTMAdapter(seed=0, **{**LSTMAdapter.test_params(), "cycle_channel": setting})
    assert adapter.uses_cycle_channel(prepared.train.subset) is used
    x = adapter._inputs(prepared.test, last_only=True)
    assert x.shape[-1] == prepared.test.n_channels + int(used)


@pytest.mark.parametrize("cls, on_fd001", [(LSTMAdapter, False), (TransformerAdapter, True), (MambaAdapter, False)])
def test_standard_settings_give_the_cycle_count_per_model_and_subset(cls, on_fd001):
    """The Transformer's FD001 overrides (chosen on validation splits) reach it; the other
    subsets and nets keep the shared settings."""
    for subset in ("FD001", "FD002", "FD003", "FD004"):
        adapter = cls(seed=0, **cls.params_for("standard", subset))
        assert adapter.uses_cycle_channel(subset) is (on_fd001 or subset != "FD001"), subset
        assert (adapter.params["smoothing"] > 0) is (on_fd001 and subset == "FD001"), subset


@pytest.mark.parametrize("cls, fd001_decay", [(LSTMAdapter, 1e-4), (TransformerAdapter, 1e-4), (MambaAdapter, 0.05)])
def test_only_mamba_takes_stronger_weight_decay_and_only_on_fd001(cls, fd001_decay):
    for subset in ("FD001", "FD002", "FD003", "FD004"):
        decay = cls(seed=0, **cls.params_for("standard", subset)).params["weight_decay"]
        assert decay == (fd001_decay if subset == "FD001" else 1e-4), subset


def test_longer_history_keeps_the_window_ends_and_labels(synthetic_prepared):
    prepared, _ = synthetic_prepared
    base = LSTMAdapter(seed=0, **{**LSTMAdapter.test_params(), "history_factor": 1.0})
    longer = LSTMAdapter(seed=0, **{**LSTMAdapter.test_params(), "history_factor": 2.0})
    window = prepared.train.window
    assert longer.history(prepared.train) == 2 * window
    assert LSTMAdapter(seed=0).history(prepared.train) == 2 * window  # the study's default
    for engines in (prepared.train, prepared.test):
        for last_only in (False, True):
            x_base, x_long = base._inputs(engines, last_only), longer._inputs(engines, last_only)
            assert x_long.shape == (len(x_base), 2 * window, x_base.shape[-1])
            # the same windows, read further back: the last `window` cycles are the protocol's
            np.testing.assert_array_equal(x_long[:, -window:], x_base)
    # the cycles before an engine's first are its first cycle repeated
    first = longer._inputs(prepared.train, last_only=False)[0]
    np.testing.assert_array_equal(first[:window + 1], np.repeat(prepared.train.sequences[0][:1], window + 1, axis=0))
    # the labels line up: the longer windows carry the protocol windows' labels and engines
    for got, want in zip(prepared.train.windows(2 * window)[1:], prepared.train.windows()[1:]):
        np.testing.assert_array_equal(got, want)
    fitted = longer.fit(prepared.train, prepared.valid)
    assert fitted.predict(prepared.test).shape == (len(prepared.test),)
    with pytest.raises(ValueError, match="history_factor"):
        LSTMAdapter(seed=0, history_factor=0.5).history(prepared.train)


def test_causal_smoothing_is_an_exponential_average_of_the_past_only():
    from adapters._torch import causal_smoothing

    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 3)).astype(np.float32)
    alpha = 0.25
    expected = np.empty_like(x)
    expected[0] = x[0]
    for t in range(1, len(x)):
        expected[t] = alpha * x[t] + (1 - alpha) * expected[t - 1]
    smoothed = causal_smoothing(x, alpha)
    assert smoothed.dtype == x.dtype
    np.testing.assert_allclose(smoothed, expected, rtol=1e-5, atol=1e-6)
    changed = x.copy()
    changed[30:] += 10.0  # the future must not leak into the past
    np.testing.assert_array_equal(causal_smoothing(changed, alpha)[:30], smoothed[:30])
    np.testing.assert_array_equal(causal_smoothing(x, 1.0), x)
    with pytest.raises(ValueError):
        causal_smoothing(x, 1.5)


def test_smoothing_changes_the_inputs_but_not_their_shape(synthetic_prepared):
    prepared, _ = synthetic_prepared
    base = LSTMAdapter(seed=0, **{**LSTMAdapter.test_params(), "smoothing": 0.0})
    smooth = LSTMAdapter(seed=0, **{**LSTMAdapter.test_params(), "smoothing": 0.3})
    x_base, x_smooth = base._inputs(prepared.test, True), smooth._inputs(prepared.test, True)
    assert x_base.shape == x_smooth.shape
    assert x_smooth.std() < x_base.std()  # averaging removes cycle-to-cycle noise


def test_public_adapter_modules_do_not_import_torch_at_import_time():
    import subprocess

    code = ("import sys; import adapters.lstm, adapters.transformer, adapters.mamba; "
            "sys.exit(1 if 'torch' in sys.modules else 0)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_mamba_records_the_scan_that_ran(synthetic_prepared):
    prepared, _ = synthetic_prepared
    adapter = MambaAdapter(seed=0, **MambaAdapter.test_params()).fit(prepared.train, prepared.valid)
    expected = "mamba_ssm" if torch.cuda.is_available() and mamba_ssm_scan_fn() is not None else "torch"
    assert adapter.info_["scan_backend"] == expected
    forced = MambaAdapter(seed=0, **{**MambaAdapter.test_params(), "scan_backend": "torch"})
    assert forced.fit(prepared.train, prepared.valid).info_["scan_backend"] == "torch"


@pytest.mark.parametrize("failure", ["raise OSError('undefined symbol: _ZN3c10')",
                                     "import selective_scan_cuda_never_built"])
def test_a_broken_mamba_ssm_install_is_reported_not_silently_replaced(tmp_path, monkeypatch, failure):
    """An installed mamba-ssm whose CUDA extension does not load falls back to our scan with a
    warning (a trial counts it in n_warnings); an absent one falls back silently."""
    if importlib.util.find_spec("mamba_ssm") is None:
        monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
        mamba_ssm_scan_fn.cache_clear()
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert mamba_ssm_scan_fn() is None  # not installed: no warning
        mamba_ssm_scan_fn.cache_clear()
    package = tmp_path / "mamba_ssm" / "ops"
    package.mkdir(parents=True)
    (tmp_path / "mamba_ssm" / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    (package / "selective_scan_interface.py").write_text(failure + "\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    mamba_ssm_scan_fn.cache_clear()
    try:
        with pytest.warns(RuntimeWarning, match="kernel cannot be loaded"):
            assert mamba_ssm_scan_fn() is None
    finally:
        mamba_ssm_scan_fn.cache_clear()
        for name in [n for n in sys.modules if n.startswith("mamba_ssm")]:
            del sys.modules[name]  # not monkeypatch.delitem: its undo would put them back
