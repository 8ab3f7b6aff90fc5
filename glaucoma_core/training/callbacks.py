"""Keras callbacks of the trainer: best-model tracking, learning-rate schedules, reporting.

Training events, in the order the trainer installs them each epoch:
0. :class:`FeatureEpochMetrics` (the feature path only) puts the epoch's metrics into the logs;
1. :class:`WarmupCosine` sets the epoch's learning rate (when the schedule is 'cosine');
2. :class:`BestWeights` keeps the best weights by the monitored metric and stops early;
3. :class:`ReporterCallback` sends the epoch's metrics out and asks the reporter whether to
   cancel (cancel = stop after this epoch; the best weights are restored at train end).
"""

from __future__ import annotations

import math
import time

import keras
import numpy as np

from glaucoma_core.training.reporting import EPOCH_KEYS


def current_learning_rate(optimizer) -> float:
    """The optimizer's learning rate now, as a float."""
    lr = optimizer.learning_rate
    return float(np.asarray(keras.ops.convert_to_numpy(lr)))


def _mode(monitor: str) -> str:
    return "min" if monitor.endswith("loss") else "max"


class BestWeights(keras.callbacks.Callback):
    """Track the best epoch by ``monitor``; optionally stop early and restore the best weights.

    Args:
        monitor: a key of the epoch logs ('val_loss', 'val_auc', ...); lower is better for
            losses, higher for the rest.
        patience: stop after this many epochs without improvement; None = never stop early.
        restore_best: at train end, put back the weights of the best epoch.
        epoch_offset: added to Keras' 0-based epoch to number epochs across training phases.
        best: a best value carried over from an earlier phase (None = none yet).
        best_weights: the weights that achieved ``best``.
        best_epoch: the epoch number of ``best``.
    """

    def __init__(self, monitor: str = "val_loss", patience: int | None = None, restore_best: bool = True,
                 epoch_offset: int = 0, best: float | None = None, best_weights=None, best_epoch: int = 0):
        super().__init__()
        self.monitor = monitor
        self.patience = patience
        self.restore_best = restore_best
        self.epoch_offset = epoch_offset
        self.best = best
        self.best_weights = best_weights
        self.best_epoch = best_epoch
        self.wait = 0
        self.stopped_early = False

    def _better(self, value: float) -> bool:
        if value is None or not math.isfinite(value):
            return False
        if self.best is None:
            return True
        return value < self.best if _mode(self.monitor) == "min" else value > self.best

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        value = None if value is None else float(value)
        if self._better(value) or (self.best is None and self.best_weights is None):
            if value is not None and math.isfinite(value):
                self.best = value
            self.best_epoch = epoch + 1 + self.epoch_offset
            self.best_weights = self.model.get_weights() if self.restore_best else None
            self.wait = 0
        else:
            self.wait += 1
            if self.patience is not None and self.wait >= self.patience:
                self.stopped_early = True
                self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.restore_best and self.best_weights is not None:
            self.model.set_weights(self.best_weights)


class FeatureEpochMetrics(keras.callbacks.Callback):
    """The epoch metrics of a head trained on cached features, exact, computed at epoch end.

    Keras' streaming metrics cost about 15 ms each per epoch on 2 CPU cores (eager result and
    reset calls), several times a small head's whole epoch. On the feature path the inputs are
    a few hundred feature vectors, so at each epoch's end this runs the head once over the
    train and the valid features (inference mode: dropout off) and computes accuracy, ROC AUC
    (exact, not over thresholds), sensitivity, specificity and F1 of the glaucoma class at 0.5
    with ``glaucoma_core.evaluation.metrics``; an undefined value (one class only) is NaN. The
    train-side values therefore describe the model at the end of the epoch, not a running mean
    over its batches. ``loss`` and ``val_loss`` stay Keras' own.

    Args:
        train: (features, labels) of the training images; labels 0/1.
        valid: (features, labels) of the validation images.
    """

    def __init__(self, train: tuple, valid: tuple):
        super().__init__()
        self.splits = (("", *train), ("val_", *valid))

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        for prefix, features, labels in self.splits:
            probabilities = np.asarray(self.model.predict_on_batch(features), dtype=np.float64)[:, 1]
            logs.update({prefix + name: value for name, value in epoch_metrics(labels, probabilities).items()})


def epoch_metrics(labels, probabilities) -> dict[str, float]:
    """accuracy, auc, sensitivity, specificity, f1 of P(glaucoma) at 0.5; NaN where undefined.

    A diverged head (NaN probabilities) gets NaN for every metric: training goes on, and the
    fold's end reports the divergence with its advice (fold_run).
    """
    from glaucoma_core.evaluation import metrics

    labels = np.asarray(labels, dtype=np.int64)
    if labels.size == 0 or not np.all(np.isfinite(probabilities)):
        return dict.fromkeys(("accuracy", "auc", "sensitivity", "specificity", "f1"), math.nan)
    values, _ = metrics.rates_from_counts(**metrics.confusion_counts(labels, probabilities))
    area = metrics.auc(labels, probabilities) if len(np.unique(labels)) == 2 else math.nan
    return {"accuracy": values["accuracy"], "auc": area, "sensitivity": values["sensitivity"],
            "specificity": values["specificity"], "f1": values["f1"]}


class WarmupCosine(keras.callbacks.Callback):
    """Per-epoch learning rate: linear warm-up over ``warmup_epochs``, then cosine decay to 0.

    Args:
        base_lr: the peak learning rate.
        epochs: total epochs of the phase.
        warmup_epochs: epochs of linear warm-up (0 = none).
        min_fraction: the final learning rate as a fraction of ``base_lr``.
    """

    def __init__(self, base_lr: float, epochs: int, warmup_epochs: int = 0, min_fraction: float = 0.0):
        super().__init__()
        self.base_lr = float(base_lr)
        self.epochs = int(epochs)
        self.warmup_epochs = int(warmup_epochs)
        self.min_fraction = float(min_fraction)

    def rate(self, epoch: int) -> float:
        """Learning rate of 0-based ``epoch``."""
        if epoch < self.warmup_epochs:
            return self.base_lr * (epoch + 1) / (self.warmup_epochs + 1)
        span = max(1, self.epochs - self.warmup_epochs)
        progress = (epoch - self.warmup_epochs) / span
        cosine = 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
        return self.base_lr * (self.min_fraction + (1 - self.min_fraction) * cosine)

    def on_epoch_begin(self, epoch, logs=None):
        self.model.optimizer.learning_rate = self.rate(epoch)


class ReporterCallback(keras.callbacks.Callback):
    """Send each epoch's metrics to a reporter; stop (cancel) when it asks.

    Args:
        reporter: object with ``on_epoch_end(epoch, metrics)`` and ``should_cancel()``.
        n_train: training images per epoch (for images per second).
        epoch_offset: added to Keras' 0-based epoch, so epochs are numbered across phases.
        history: a list to append each epoch's metrics dict to (with an 'epoch' key).
    """

    def __init__(self, reporter, n_train: int, epoch_offset: int = 0, history: list | None = None):
        super().__init__()
        self.reporter = reporter
        self.n_train = n_train
        self.epoch_offset = epoch_offset
        self.history = history if history is not None else []
        self.cancelled = False
        self._started = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        seconds = time.perf_counter() - self._started
        logs = logs or {}
        metrics = {key: float(logs[key]) for key in EPOCH_KEYS if key in logs}
        metrics["lr"] = current_learning_rate(self.model.optimizer)
        metrics["epoch_seconds"] = seconds
        metrics["images_per_second"] = self.n_train / seconds if seconds > 0 else float("nan")
        number = epoch + 1 + self.epoch_offset
        self.history.append({"epoch": number, **metrics})
        self.reporter.on_epoch_end(number, metrics)
        if self.reporter.should_cancel():
            self.cancelled = True
            self.model.stop_training = True
            self.reporter.log(f"cancel requested: stopping after epoch {number}")
