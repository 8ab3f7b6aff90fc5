"""External validation figures: fold models and their ensemble on another dataset.

Every threshold comes from the experiment's own validation images: each fold model uses the
threshold its fold chose, the ensemble (the fold models' mean probability) uses the threshold
the same rule chooses on the experiment's pooled validation predictions. A threshold re-chosen
on the external labels is reported apart, as ``optimistic`` (it is tuned on the test set).
The internal figure is the experiment's pooled out-of-fold test AUC; the drop internal -
external of two independent samples gets a DeLong standard error on each side.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

from glaucoma_core.evaluation.calibration import expected_calibration_error
from glaucoma_core.evaluation.ensemble import summarize_probabilities
from glaucoma_core.evaluation.intervals import delong_auc_covariance, metric_intervals
from glaucoma_core.evaluation.metrics import UndefinedMetricError, classification_metrics
from glaucoma_core.evaluation.thresholds import choose_threshold

#: Figures reported with an interval for each model.
FIGURES = ("auc", "sensitivity", "specificity", "sens_at_spec85", "sens_at_spec95", "pauc_spec90",
           "balanced_accuracy", "brier")


def external_images(index: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """The external test images of a dataset index: every usable image, identical files once.

    Returns (images: columns path, sha256, label, relpath; counts: {usable, duplicates (extra
    copies dropped), label_conflicts (contents filed under both classes, left out), unusable}).
    """
    usable = index[index["problem"] == ""]
    labels_per_sha = usable.groupby("sha256")["label"].nunique()
    conflicting = set(labels_per_sha[labels_per_sha > 1].index)
    kept = usable[~usable["sha256"].isin(conflicting)].drop_duplicates("sha256")
    counts = {"usable": int(len(usable)), "duplicates": int(len(usable) - len(kept)
                                                            - usable["sha256"].isin(conflicting).sum()),
              "label_conflicts": len(conflicting), "unusable": int((index["problem"] != "").sum())}
    return kept[["path", "sha256", "label", "relpath"]].reset_index(drop=True), counts


def figures(labels, probabilities, threshold: float, *, n_resamples: int = 1000, seed: int = 0) -> dict:
    """Metrics of one model at ``threshold`` with 95 % intervals (AUC: DeLong, others: bootstrap).

    Returns {auc, auc_ci95, sensitivity, sensitivity_ci95, ..., ece, threshold, n, n_glaucoma,
    tp, fp, tn, fn, undefined}.
    """
    y, p = np.asarray(labels, int), np.asarray(probabilities, float)
    point = classification_metrics(y, p, threshold)
    intervals = metric_intervals(y, p, threshold, n_resamples=n_resamples, seed=seed)
    out = {"threshold": float(threshold), "n": point["n"], "n_glaucoma": point["n_glaucoma"],
           **{k: point[k] for k in ("tp", "fp", "tn", "fn")}}
    for name in FIGURES:
        out[name] = point[name]
        out[f"{name}_ci95"] = [intervals[name].low, intervals[name].high]
    out["ece"] = expected_calibration_error(y, p)
    out["undefined"] = point["undefined"]
    return out


def auc_difference(labels_a, scores_a, labels_b, scores_b, confidence: float = 0.95) -> dict:
    """AUC(A) - AUC(B) of two independent sets of images, with a DeLong-based interval.

    The variance of the difference is the sum of each AUC's DeLong variance (no covariance:
    different images). Returns {auc_a, auc_b, difference, se, ci_low, ci_high, p_value, note}.
    """
    try:
        auc_a, var_a = delong_auc_covariance(labels_a, scores_a)
        auc_b, var_b = delong_auc_covariance(labels_b, scores_b)
    except UndefinedMetricError as exc:
        nan = math.nan
        return {"auc_a": nan, "auc_b": nan, "difference": nan, "se": nan, "ci_low": nan, "ci_high": nan,
                "p_value": nan, "note": str(exc)}
    diff = float(auc_a[0] - auc_b[0])
    se = math.sqrt(max(float(var_a[0, 0] + var_b[0, 0]), 0.0))
    half = stats.norm.ppf(0.5 + confidence / 2) * se
    p = float(2 * stats.norm.sf(abs(diff) / se)) if se > 1e-15 else (1.0 if abs(diff) < 1e-15 else 0.0)
    return {"auc_a": float(auc_a[0]), "auc_b": float(auc_b[0]), "difference": diff, "se": se,
            "ci_low": diff - half, "ci_high": diff + half, "p_value": p, "note": ""}


def optimistic_threshold(labels, probabilities, method: str, target: float | None) -> dict:
    """The threshold the rule would choose on the external labels themselves (Youden for a fixed
    rule), and what it gives there. Tuned on the test set: never the reported figure."""
    if method == "fixed":
        method, target = "youden", None
    try:
        choice = choose_threshold(labels, probabilities, method, target)
    except ValueError as exc:
        return {"threshold": math.nan, "method": method, "note": str(exc)}
    return {"threshold": choice.threshold, "method": method, "sensitivity": choice.valid_sensitivity,
            "specificity": choice.valid_specificity,
            "note": "chosen on the external labels: optimistic, not an estimate of performance"}


def external_report(images: pd.DataFrame, fold_probabilities: dict[int, tuple[int, np.ndarray]],
                    fold_thresholds: dict[int, float], ensemble_threshold: float, *,
                    method: str = "fixed", target: float | None = None,
                    internal_labels=None, internal_probabilities=None,
                    n_resamples: int = 1000, seed: int = 0) -> dict:
    """Fold-model and fold-ensemble figures on the external ``images``.

    Args:
        images: the external images (columns path, sha256, label), one row each.
        fold_probabilities: {fold: (run_id, P(glaucoma) per image, NaN where unreadable)}.
        fold_thresholds: {fold: the threshold that fold chose on its own validation images}.
        ensemble_threshold: the threshold of the ensemble (chosen on the experiment's pooled
            validation predictions with the same rule).
        method, target: the threshold rule (for the optimistic re-chosen threshold only).
        internal_labels, internal_probabilities: the experiment's pooled out-of-fold test
            predictions (the internal figure of the drop); None to skip the drop.
        n_resamples, seed: bootstrap of the intervals.

    Returns {images, ensemble (figures + mean_doubt, optimistic), folds: [{fold, run_id, ...figures}],
    drop ({internal_auc, external_auc, difference, ci95, p_value, se}), predictions (DataFrame:
    path, sha256, label, probability, doubt (sd over folds), low, high, called, p_fold_<k>...)}.
    """
    if images.empty:
        raise ValueError("the external dataset has no usable images")
    folds = sorted(fold_probabilities)
    matrix = np.vstack([fold_probabilities[f][1] for f in folds])
    readable = ~np.isnan(matrix).any(axis=0)
    if not readable.any():
        raise ValueError("no external image could be read")
    labels = images["label"].to_numpy(int)[readable]
    matrix = matrix[:, readable]
    if len(np.unique(labels)) < 2:
        raise ValueError("the external images are all of one class; AUC, sensitivity and specificity need both")
    summary = summarize_probabilities(matrix)
    ensemble = figures(labels, summary["probability"].to_numpy(), ensemble_threshold, n_resamples=n_resamples,
                       seed=seed)
    ensemble["mean_doubt"] = float(summary["sd"].mean())
    ensemble["optimistic"] = optimistic_threshold(labels, summary["probability"].to_numpy(), method, target)
    per_fold = []
    for row, fold in enumerate(folds):
        entry = figures(labels, matrix[row], fold_thresholds[fold], n_resamples=n_resamples, seed=seed)
        per_fold.append({"fold": int(fold), "run_id": int(fold_probabilities[fold][0]), **entry})
    kept = images[readable].reset_index(drop=True)
    predictions = kept[["path", "sha256", "label"]].assign(
        probability=summary["probability"].to_numpy(), doubt=summary["sd"].to_numpy(),
        low=summary["low"].to_numpy(), high=summary["high"].to_numpy(),
        called=(summary["probability"].to_numpy() >= ensemble_threshold).astype(int))
    for row, fold in enumerate(folds):
        predictions[f"p_fold_{fold}"] = matrix[row]
    drop = None
    if internal_labels is not None and len(internal_labels):
        diff = auc_difference(internal_labels, internal_probabilities, labels, summary["probability"].to_numpy())
        drop = {"internal_auc": diff["auc_a"], "external_auc": diff["auc_b"], "difference": diff["difference"],
                "ci95": [diff["ci_low"], diff["ci_high"]], "se": diff["se"], "p_value": diff["p_value"],
                "note": diff["note"] or "internal: pooled out-of-fold test images; external: the fold ensemble; "
                                        "DeLong variances of two independent samples"}
    return {"images": {"n": int(readable.sum()), "n_glaucoma": int(labels.sum()),
                       "n_normal": int(len(labels) - labels.sum()), "unreadable": int((~readable).sum())},
            "ensemble": ensemble, "folds": per_fold, "drop": drop, "predictions": predictions}
