"""Final metrics of one fold from its predictions, at a fixed threshold.

Glaucoma (label 1) is the positive class: sensitivity is the recall of glaucoma, specificity
the recall of normal, F1 that of the glaucoma class. The threshold is fixed (0.5 by default);
choosing one on the validation split is the evaluation module's job.
"""

from __future__ import annotations

import math

import pandas as pd

METRIC_NAMES = ("auc", "accuracy", "sensitivity", "specificity", "f1", "tp", "fp", "tn", "fn", "n")


def binary_metrics(labels, probabilities, threshold: float = 0.5) -> dict[str, float]:
    """AUC, accuracy, sensitivity, specificity, F1 and the counts tp/fp/tn/fn/n.

    Args:
        labels: true labels (1 = glaucoma, 0 = normal).
        probabilities: P(glaucoma) for each image.
        threshold: glaucoma is predicted when probability >= threshold.

    Undefined values (AUC with one class only, a rate with an empty denominator) are NaN.
    The arithmetic is the evaluation module's; this picks the figures a fold records.
    """
    from glaucoma_core.evaluation.metrics import (
        UndefinedMetricError,
        auc,
        confusion_counts,
        rates_from_counts,
    )

    counts = confusion_counts(labels, probabilities, threshold)
    rates, _ = rates_from_counts(**counts)
    try:
        auc_value = auc(labels, probabilities)
    except UndefinedMetricError:
        auc_value = math.nan
    return {
        "auc": auc_value,
        **{name: rates[name] for name in ("accuracy", "sensitivity", "specificity", "f1")},
        **counts,
        "n": int(sum(counts.values())),
    }


def split_metrics(predictions: pd.DataFrame, threshold: float = 0.5) -> dict[str, dict[str, float]]:
    """``binary_metrics`` for each split present in ``predictions`` (columns split, label,
    probability): {'valid': {...}, 'test': {...}}. A file repeated in a split (same sha256)
    counts once, as in every evaluation of the workbench."""
    from glaucoma_core.evaluation.cv_summary import dedupe_per_fold

    predictions = dedupe_per_fold(predictions)
    result = {}
    for split, part in predictions.groupby("split", sort=True):
        if len(part):
            result[str(split)] = binary_metrics(part["label"], part["probability"], threshold)
    return result
