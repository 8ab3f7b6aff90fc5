"""Final metrics of one fold from its predictions, at a fixed threshold.

Glaucoma (label 1) is the positive class: sensitivity is the recall of glaucoma, specificity
the recall of normal, F1 that of the glaucoma class. The threshold is fixed (0.5 by default);
choosing one on the validation split is the evaluation module's job.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

METRIC_NAMES = ("auc", "accuracy", "sensitivity", "specificity", "f1", "tp", "fp", "tn", "fn", "n")


def binary_metrics(labels, probabilities, threshold: float = 0.5) -> dict[str, float]:
    """AUC, accuracy, sensitivity, specificity, F1 and the counts tp/fp/tn/fn/n.

    Args:
        labels: true labels (1 = glaucoma, 0 = normal).
        probabilities: P(glaucoma) for each image.
        threshold: glaucoma is predicted when probability >= threshold.

    Undefined values (AUC with one class only, a rate with an empty denominator) are NaN.
    """
    from sklearn.metrics import roc_auc_score

    y = np.asarray(labels, dtype=int)
    p = np.asarray(probabilities, dtype=float)
    if y.shape != p.shape:
        raise ValueError(f"labels ({y.shape}) and probabilities ({p.shape}) differ in shape")
    predicted = (p >= threshold).astype(int)
    tp = int(np.sum((predicted == 1) & (y == 1)))
    fp = int(np.sum((predicted == 1) & (y == 0)))
    tn = int(np.sum((predicted == 0) & (y == 0)))
    fn = int(np.sum((predicted == 0) & (y == 1)))
    auc = float(roc_auc_score(y, p)) if len(set(y.tolist())) == 2 else math.nan
    return {
        "auc": auc,
        "accuracy": _ratio(tp + tn, len(y)),
        "sensitivity": _ratio(tp, tp + fn),
        "specificity": _ratio(tn, tn + fp),
        "f1": _ratio(2 * tp, 2 * tp + fp + fn),
        "tp": tp, "fp": fp, "tn": tn, "fn": fn, "n": int(len(y)),
    }


def split_metrics(predictions: pd.DataFrame, threshold: float = 0.5) -> dict[str, dict[str, float]]:
    """``binary_metrics`` for each split present in ``predictions`` (columns split, label,
    probability): {'valid': {...}, 'test': {...}}."""
    result = {}
    for split, part in predictions.groupby("split", sort=True):
        if len(part):
            result[str(split)] = binary_metrics(part["label"], part["probability"], threshold)
    return result


def _ratio(numerator: int, denominator: int) -> float:
    return numerator / denominator if denominator else math.nan
