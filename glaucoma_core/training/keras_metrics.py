"""Keras metrics of the glaucoma class (column 1 of the one-hot labels and probabilities).

``auc`` is the ROC AUC of P(glaucoma); ``sensitivity`` (recall of glaucoma), ``specificity``
and ``f1`` (of the glaucoma class) count predictions at the 0.5 threshold, accumulated over
the whole epoch (not averaged over batches).
"""

from __future__ import annotations

import keras
from keras import ops

THRESHOLD = 0.5


@keras.saving.register_keras_serializable(package="glaucoma_core")
class GlaucomaAUC(keras.metrics.AUC):
    """ROC AUC of P(glaucoma) against the glaucoma label."""

    def __init__(self, name: str = "auc", **kwargs):
        kwargs.setdefault("num_thresholds", 500)
        super().__init__(name=name, **kwargs)

    def update_state(self, y_true, y_pred, sample_weight=None):
        return super().update_state(y_true[:, 1], y_pred[:, 1], sample_weight=sample_weight)


@keras.saving.register_keras_serializable(package="glaucoma_core")
class GlaucomaRate(keras.metrics.Metric):
    """Sensitivity, specificity or F1 of the glaucoma class at a fixed threshold.

    Args:
        kind: 'sensitivity' | 'specificity' | 'f1'.
        threshold: P(glaucoma) at or above which a prediction is glaucoma.
    """

    def __init__(self, kind: str = "sensitivity", threshold: float = THRESHOLD, name: str | None = None, **kwargs):
        if kind not in ("sensitivity", "specificity", "f1"):
            raise ValueError(f"unknown kind {kind!r}")
        super().__init__(name=name or kind, **kwargs)
        self.kind = kind
        self.threshold = float(threshold)
        self.counts = self.add_variable(shape=(4,), initializer="zeros", name="counts")  # tp fp tn fn

    def update_state(self, y_true, y_pred, sample_weight=None):
        truth = ops.cast(y_true[:, 1] >= 0.5, "float32")
        guess = ops.cast(ops.cast(y_pred[:, 1], "float32") >= self.threshold, "float32")
        tp = ops.sum(truth * guess)
        fp = ops.sum((1 - truth) * guess)
        tn = ops.sum((1 - truth) * (1 - guess))
        fn = ops.sum(truth * (1 - guess))
        self.counts.assign_add(ops.stack([tp, fp, tn, fn]))

    def result(self):
        tp, fp, tn, fn = self.counts[0], self.counts[1], self.counts[2], self.counts[3]
        if self.kind == "sensitivity":
            return ops.divide_no_nan(tp, tp + fn)
        if self.kind == "specificity":
            return ops.divide_no_nan(tn, tn + fp)
        return ops.divide_no_nan(2 * tp, 2 * tp + fp + fn)

    def reset_state(self):
        self.counts.assign(ops.zeros((4,)))

    def get_config(self):
        return {**super().get_config(), "kind": self.kind, "threshold": self.threshold}


def training_metrics() -> list:
    """Fresh metric objects for ``model.compile``: accuracy, auc, sensitivity, specificity, f1."""
    return [
        keras.metrics.CategoricalAccuracy(name="accuracy"),
        GlaucomaAUC(name="auc"),
        GlaucomaRate("sensitivity"),
        GlaucomaRate("specificity"),
        GlaucomaRate("f1"),
    ]
