"""The shared trainer's sampling, learning, schedules and model selection, observed from outside:
what a network is shown in training, which epoch is kept, when training stops."""
from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from adapters._torch.nets import LSTMRegressor  # noqa: E402
from adapters._torch.trainer import TrainConfig, predict_windows, train_regressor  # noqa: E402


pytestmark = pytest.mark.usefixtures("one_torch_thread")


class Recorder(torch.nn.Module):
    """A linear read-out of the last cycle that remembers every batch it is trained on."""

    def __init__(self, channels: int):
        super().__init__()
        self.linear = torch.nn.Linear(channels, 1)
        self.batches: list[np.ndarray] = []
        self.evaluated = 0

    def forward(self, x):
        if self.training:
            self.batches.append(x.detach().numpy().copy())
        else:
            self.evaluated += len(x)
        return self.linear(x[:, -1, :]).squeeze(-1)


def _windows(n: int, seed: int = 0) -> np.ndarray:
    """Windows whose first value is their own index, so a batch says which windows it holds."""
    x = np.random.default_rng(seed).normal(size=(n, 4, 2)).astype(np.float32)
    x[:, 0, 0] = np.arange(n)
    return x


def _epochs_of(net: Recorder, steps: int) -> list[np.ndarray]:
    ids = [b[:, 0, 0].astype(int) for b in net.batches]
    return [np.concatenate(ids[i:i + steps]) for i in range(0, len(ids), steps)]


def test_each_epoch_trains_on_distinct_seeded_training_windows_in_full_batches():
    x, y = _windows(100), np.linspace(0, 125, 100).astype(np.float32)
    xv, yv = _windows(30, seed=1) + 1000, np.ones(30, np.float32)
    config = TrainConfig(epochs=3, batch_size=16, windows_per_epoch=40, schedule="constant", patience=99)
    runs = {}
    for name, seed in (("first", 0), ("other seed", 1), ("again", 0)):
        runs[name] = Recorder(2)
        train_regressor(runs[name], x, y, xv, yv, config, seed=seed)

    batches = runs["first"].batches
    assert [len(b) for b in batches] == [16, 16, 8] * 3  # ceil(40 / 16) steps per epoch, the last one short
    epochs = _epochs_of(runs["first"], 3)
    for ids in epochs:
        assert len(ids) == len(set(ids)) == 40 and ids.max() < 100  # distinct training windows only
    assert not np.array_equal(epochs[0], epochs[1])  # a new draw every epoch
    np.testing.assert_array_equal(np.concatenate(batches), x[np.concatenate(epochs)])  # no noise by default
    np.testing.assert_array_equal(np.concatenate(runs["again"].batches), np.concatenate(batches))  # seeded
    assert not np.array_equal(_epochs_of(runs["other seed"], 3)[0], epochs[0])
    assert runs["first"].evaluated == 3 * 30  # validation windows are only ever evaluated, once per epoch


def test_without_a_window_budget_every_window_is_used_once_per_epoch():
    x, y = _windows(50), np.zeros(50, np.float32)
    net = Recorder(2)
    train_regressor(net, x, y, None, None, TrainConfig(epochs=2, batch_size=64, windows_per_epoch=0), seed=0)
    assert [sorted(ids) for ids in _epochs_of(net, 1)] == [list(range(50))] * 2


def _learnable(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 6, 3)).astype(np.float32)
    return x, (62.5 + 50 * np.tanh(x[:, -1, 0] + 0.5 * x[:, -2, 1])).astype(np.float32)


def test_the_trainer_learns_a_learnable_target_and_keeps_its_best_epoch():
    x, y = _learnable(256, 0)
    xv, yv = _learnable(128, 1)
    torch.manual_seed(0)
    net = LSTMRegressor(3, hidden_size=16, num_layers=1, head_size=8)
    config = TrainConfig(epochs=25, batch_size=32, windows_per_epoch=256, lr=1e-2, patience=25)
    result = train_regressor(net, x, y, xv, yv, config, seed=0)
    baseline = float(np.sqrt(np.mean((yv - y.mean()) ** 2)))  # predicting the mean
    assert result.best_valid_rmse < 0.35 * baseline, (result.best_valid_rmse, baseline)
    kept = float(np.sqrt(np.mean((np.clip(predict_windows(net, xv), 0, None) - yv) ** 2)))
    assert kept == pytest.approx(result.best_valid_rmse, rel=1e-5)
    assert result.history[-1]["train_rmse"] < 0.5 * result.history[0]["train_rmse"]
    assert [h["epoch"] for h in result.history] == list(range(1, result.epochs_run + 1))
    assert result.stopped == "completed" and result.epochs_run == 25
    assert result.device == "cpu" and result.threads == 1 and result.precision == "fp32"
    assert result.seconds_per_epoch == pytest.approx(result.train_seconds / 25)
    assert all(h["seconds"] > 0 for h in result.history)


def test_training_stops_exactly_patience_epochs_after_the_best_and_scores_clipped_predictions():
    """Half the targets are 0: the network predicts below 0 for some windows, which a RUL
    prediction never is; the validation RMSE is that of the predictions clipped at 0, as they
    will be scored."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(64, 8, 3)).astype(np.float32)
    y = np.maximum(0, 20 * x[:, -1, 0])
    xv = rng.normal(size=(32, 8, 3)).astype(np.float32)
    yv = np.maximum(0, 20 * xv[:, -1, 0])
    torch.manual_seed(0)
    net = LSTMRegressor(3, hidden_size=8, num_layers=1, head_size=4)
    config = TrainConfig(epochs=300, batch_size=32, lr=1e-2, patience=4)
    result = train_regressor(net, x, y, xv, yv, config, seed=0)
    assert result.stopped.startswith("early stop") and result.epochs_run == result.best_epoch + 4
    raw = predict_windows(net, xv)
    assert (raw < 0).any()  # clipping matters here
    kept = float(np.sqrt(np.mean((np.clip(raw, 0, None) - yv) ** 2)))
    assert kept == pytest.approx(result.best_valid_rmse, rel=1e-5)
    valid = [h["valid_rmse"] for h in result.history]
    assert result.best_valid_rmse == pytest.approx(min(valid)) == pytest.approx(valid[result.best_epoch - 1])
    assert all(v >= result.best_valid_rmse - 1e-4 for v in valid[result.best_epoch:])


def _lrs(schedule: str, epochs: int = 10) -> list[float]:
    x, y = _windows(32), np.ones(32, np.float32)
    config = TrainConfig(epochs=epochs, batch_size=32, windows_per_epoch=32, lr=1e-2, schedule=schedule)
    result = train_regressor(Recorder(2), x, y, None, None, config, seed=0)
    return [h["lr"] for h in result.history]


def test_the_learning_rate_schedules():
    onecycle = _lrs("onecycle", epochs=20)  # one step per epoch; entry i: the rate of step i + 2
    assert onecycle[0] == pytest.approx(1e-2 - 0.9e-2 * (1 + math.cos(math.pi / 3)) / 2)  # cosine warm-up from max / 10
    assert max(onecycle) == pytest.approx(1e-2) and onecycle.index(max(onecycle)) == 2  # the peak at 20 % of the steps
    assert onecycle[2:19] == sorted(onecycle[2:19], reverse=True)
    assert onecycle[18] == pytest.approx(1e-2 / 10 / 100, rel=1e-3)  # the last step: max / div / final_div
    cosine = _lrs("cosine")
    assert cosine == sorted(cosine, reverse=True) and cosine[-1] == pytest.approx(1e-4, rel=1e-3)
    assert cosine[4] == pytest.approx(1e-4 + (1e-2 - 1e-4) * (1 + math.cos(math.pi / 2)) / 2, rel=1e-3)
    assert _lrs("constant") == [1e-2] * 10
    with pytest.raises(ValueError, match="schedule"):
        _lrs("linear")


def test_without_validation_the_last_epoch_is_kept_and_a_generous_time_budget_changes_nothing():
    x, y = _learnable(64, 0)
    config = TrainConfig(epochs=4, batch_size=32, lr=1e-2, time_budget_s=3600.0)
    result = train_regressor(LSTMRegressor(3, hidden_size=4, num_layers=1, head_size=2), x, y, None, None,
                             config, seed=0)
    assert (result.best_epoch, result.epochs_run, result.best_valid_rmse, result.stopped) == (4, 4, None, "completed")
    assert "valid_rmse" not in result.history[-1]
    empty = np.zeros((0, 6, 3), np.float32)
    with_empty = train_regressor(LSTMRegressor(3, hidden_size=4, num_layers=1, head_size=2), x, y, empty,
                                 np.zeros(0, np.float32), config, seed=0)
    assert with_empty.best_valid_rmse is None and with_empty.best_epoch == 4


def test_without_validation_a_moving_average_is_what_is_kept():
    x, y = _learnable(96, 0)
    torch.manual_seed(0)
    net = LSTMRegressor(3, hidden_size=8, num_layers=1, head_size=4)
    before = predict_windows(net, x)
    torch.manual_seed(0)
    live = LSTMRegressor(3, hidden_size=8, num_layers=1, head_size=4)
    for model, decay in ((net, 0.9999), (live, 0.0)):
        config = TrainConfig(epochs=5, batch_size=32, lr=1e-2, ema_decay=decay, schedule="constant")
        train_regressor(model, x, y, None, None, config, seed=0)
    moved_average = np.abs(predict_windows(net, x) - before).max()
    moved_live = np.abs(predict_windows(live, x) - before).max()
    assert moved_average < 0.3 * moved_live


def test_float64_training_windows_and_labels_train_like_float32_ones():
    x, y = _learnable(64, 0)

    def fit(xs, ys):
        torch.manual_seed(0)
        net = LSTMRegressor(3, hidden_size=4, num_layers=1, head_size=2)
        train_regressor(net, xs, ys, x[:16], y[:16], TrainConfig(epochs=2, batch_size=32), seed=0)
        return predict_windows(net, x)

    np.testing.assert_allclose(fit(x.astype(np.float64), y.astype(np.float64)), fit(x, y), rtol=1e-5, atol=1e-4)


def test_an_empty_validation_set_is_no_validation_and_one_window_is_one():
    x, y = _learnable(64, 0)
    config = TrainConfig(epochs=3, batch_size=32, patience=1)
    empty = train_regressor(Recorder(3), x, y, x[:0], y[:0], config, seed=0)
    assert (empty.stopped, empty.epochs_run, empty.best_valid_rmse) == ("completed", 3, None)
    assert all("valid_rmse" not in h for h in empty.history)
    one = train_regressor(Recorder(3), x, y, x[:1], y[:1], config, seed=0)
    assert one.best_valid_rmse is not None and "valid_rmse" in one.history[0]


def test_the_reported_training_rmse_is_over_the_windows_of_the_epoch_in_cycles():
    """With a learning rate of 0 nothing moves, so each epoch's training RMSE is the RMSE of the
    untouched network over every training window (batches of different sizes weighed by size)."""
    x, y = _windows(50), np.linspace(0, 125, 50).astype(np.float32)
    torch.manual_seed(0)
    net = Recorder(2)
    expected = float(np.sqrt(np.mean((predict_windows(net, x) - y) ** 2)))
    config = TrainConfig(epochs=2, batch_size=16, windows_per_epoch=0, lr=0.0, weight_decay=0.0,
                         schedule="constant")
    result = train_regressor(net, x, y, None, None, config, seed=0)
    assert [h["train_rmse"] for h in result.history] == pytest.approx([expected, expected], rel=1e-5)


def test_weight_decay_reaches_the_optimiser():
    x, y = _windows(64), np.full(64, 60.0, np.float32)

    def fit(decay):
        torch.manual_seed(0)
        net = Recorder(2)
        config = TrainConfig(epochs=5, batch_size=32, lr=1e-2, weight_decay=decay, schedule="constant")
        train_regressor(net, x, y, None, None, config, seed=0)
        return torch.cat([p.detach().flatten() for p in net.parameters()]).numpy()

    plain, decayed = fit(0.0), fit(5.0)
    assert np.abs(decayed).sum() < 0.9 * np.abs(plain).sum()  # decay pulls the weights towards 0
    np.testing.assert_allclose(fit(1e-4), plain, atol=1e-3)  # the default decay is small


def test_input_noise_has_the_asked_size_and_depends_only_on_the_trainers_seed():
    x, y = _windows(200), np.zeros(200, np.float32)
    x[:, 0, 0] *= 100  # the window's index, readable under the noise
    config = TrainConfig(epochs=1, batch_size=50, windows_per_epoch=0, input_noise=0.5, schedule="constant")
    seen = []
    for global_seed in (1, 2):
        torch.manual_seed(global_seed)  # a library reseeding torch's global generator changes nothing
        net = Recorder(2)
        train_regressor(net, x, y, None, None, config, seed=0)
        seen.append(np.concatenate(net.batches))
    np.testing.assert_array_equal(seen[0], seen[1])
    ids = np.rint(seen[0][:, 0, 0] / 100).astype(int)
    assert sorted(ids) == list(range(200))
    noise = seen[0] - x[ids]
    assert abs(noise.std() - 0.5) < 0.05 and abs(noise.mean()) < 0.05
