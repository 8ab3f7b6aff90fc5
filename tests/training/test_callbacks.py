"""Best-weights tracking, early stopping, cancel and the warm-up cosine schedule."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from glaucoma_core.training.callbacks import BestWeights, ReporterCallback, WarmupCosine
from glaucoma_core.training.reporting import RecordingReporter


def _model():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(inputs))
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="categorical_crossentropy")
    return model


class _Scripted(keras.callbacks.Callback):
    """Overwrites val_loss with a scripted sequence, so best/early-stop logic is deterministic."""

    def __init__(self, values):
        super().__init__()
        self.values = values

    def on_epoch_end(self, epoch, logs=None):
        logs["val_loss"] = self.values[epoch]


def _fit(model, callbacks, epochs):
    x = np.random.default_rng(0).normal(size=(16, 3)).astype(np.float32)
    y = np.eye(2, dtype=np.float32)[np.arange(16) % 2]
    model.fit(x, y, validation_data=(x, y), epochs=epochs, callbacks=callbacks, verbose=0)


def test_best_weights_restored_and_early_stop():
    model = _model()
    seen = []

    class Snapshot(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append(self.model.get_weights())

    tracker = BestWeights("val_loss", patience=2, restore_best=True)
    _fit(model, [_Scripted([1.0, 0.5, 0.7, 0.8, 0.1, 0.1]), Snapshot(), tracker], epochs=6)
    assert tracker.best_epoch == 2 and tracker.stopped_early and len(seen) == 4
    for restored, best in zip(model.get_weights(), seen[1], strict=True):
        np.testing.assert_allclose(restored, best)


def test_reporter_cancel_stops_after_the_epoch_and_reports_every_key():
    model = _model()
    reporter = RecordingReporter(cancel_after_epoch=2)
    history = []
    callback = ReporterCallback(reporter, n_train=16, history=history)
    _fit(model, [callback], epochs=5)
    assert callback.cancelled and [e for e, _ in reporter.epochs] == [1, 2]
    metrics = reporter.epochs[0][1]
    assert {"loss", "val_loss", "lr", "epoch_seconds", "images_per_second"} <= set(metrics)
    assert metrics["lr"] == pytest.approx(0.1)
    assert history[1]["epoch"] == 2


def test_warmup_cosine_rates():
    schedule = WarmupCosine(1.0, epochs=10, warmup_epochs=2)
    rates = [schedule.rate(e) for e in range(10)]
    assert rates[0] < rates[1] < rates[2] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(rates[2:], rates[3:], strict=False))
    assert rates[-1] < 0.1


def test_feature_epoch_metrics_are_exact_and_reach_the_callbacks_after_them():
    import keras
    import numpy as np
    from sklearn.metrics import f1_score, roc_auc_score

    from glaucoma_core.training.callbacks import FeatureEpochMetrics

    rng = np.random.default_rng(0)
    features = rng.normal(size=(40, 6)).astype("float32")
    labels = (features[:, 0] > 0).astype(int)
    inputs = keras.Input((6,))
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(inputs))
    seen = {}

    class Reader(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.update(logs)

    model.compile(optimizer="adam", loss="categorical_crossentropy")
    onehot = np.eye(2)[labels]
    model.fit(features, onehot, validation_data=(features[:20], onehot[:20]), epochs=1, verbose=0,
              callbacks=[FeatureEpochMetrics((features, labels), (features[:20], labels[:20])), Reader()])
    probabilities = np.asarray(model(features))[:, 1]
    assert seen["auc"] == pytest.approx(roc_auc_score(labels, probabilities))
    assert seen["val_auc"] == pytest.approx(roc_auc_score(labels[:20], probabilities[:20]))
    assert seen["f1"] == pytest.approx(f1_score(labels, probabilities >= 0.5))
    assert seen["accuracy"] == pytest.approx(np.mean((probabilities >= 0.5) == labels))
    assert "loss" in seen and "val_loss" in seen
    one_class = FeatureEpochMetrics((features, np.zeros(40, int)), (features, labels))
    one_class.set_model(model)
    logs = {}
    one_class.on_epoch_end(0, logs)
    assert np.isnan(logs["auc"]) and np.isnan(logs["sensitivity"]) and logs["specificity"] >= 0
    from glaucoma_core.training.callbacks import epoch_metrics

    diverged = epoch_metrics(labels, np.full(40, np.nan))
    assert set(diverged) == {"accuracy", "auc", "sensitivity", "specificity", "f1"}
    assert all(np.isnan(v) for v in diverged.values())
