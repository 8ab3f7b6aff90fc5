"""Metrics of one set of predictions: labels (1 = glaucoma) and P(glaucoma).

Conventions used everywhere in this package:

* ``labels`` are 0 (normal) or 1 (glaucoma); the positive class is glaucoma.
* ``probabilities`` (or ``scores``) are P(glaucoma); an image is *called* glaucoma when
  ``probability >= threshold``. ``threshold`` is a number or one number per image (so pooled
  cross-validation predictions can carry each fold's own threshold).
* Bad input (empty, NaN, lengths differ, labels other than 0/1) raises
  :class:`MetricInputError` (a ``ValueError``) naming the problem.
* A metric that is mathematically undefined for valid input (AUC with one class only,
  sensitivity without glaucoma images...) raises :class:`UndefinedMetricError` from the
  scalar functions; :func:`classification_metrics` turns it into NaN and records the reason
  in ``result["undefined"][name]``.

Curve-based metrics:

* ``auc``: area under the ROC curve, the Mann-Whitney statistic (ties count one half),
  identical to ``sklearn.metrics.roc_auc_score``.
* ``average_precision``: step-wise sum, identical to ``sklearn.metrics.average_precision_score``.
* ``sensitivity_at_specificity``: the ROC curve's sensitivity at a false-positive rate of
  ``1 - specificity``. ``method="interpolate"`` (default) joins the ROC points by straight
  lines (the upper envelope: at a vertical step the highest sensitivity on the left is
  joined to the lowest on the right) and reads the line at the target FPR; this is what a
  randomised mix of two neighbouring thresholds achieves. ``method="step"`` returns the
  best sensitivity of an actual threshold whose specificity is at least the target (the
  AIROGS challenge's rule; never above the interpolated value).
* ``partial_auc``: the area under the ROC curve for FPR in ``[0, 1 - min_specificity]``.
  ``standardized=True`` (the default, and what :func:`classification_metrics` reports as
  ``pauc_spec90``) applies McClish's correction exactly like
  ``roc_auc_score(max_fpr=...)``: 0.5 = chance, 1 = perfect. ``standardized=False`` gives
  the raw area (maximum ``1 - min_specificity``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

# Specificities at which sensitivity is reported: REFUGE (0.85) and AIROGS (0.95).
REFUGE_SPECIFICITY = 0.85
AIROGS_SPECIFICITY = 0.95
PAUC_MIN_SPECIFICITY = 0.9


class MetricInputError(ValueError):
    """Labels / probabilities that cannot be evaluated (empty, NaN, wrong length or values)."""


class UndefinedMetricError(ValueError):
    """A metric that has no value for this (valid) input, e.g. AUC with one class only."""


# --- input checking -----------------------------------------------------------------------


def check_inputs(labels, scores, *, probabilities: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Validate and convert labels and scores to arrays.

    Args:
        labels: sequence of 0/1 (bool, int or float holding 0.0/1.0).
        scores: sequence of finite numbers, same length.
        probabilities: also require every score to lie in [0, 1].

    Returns:
        ``(labels as int8 array, scores as float64 array)``.

    Raises:
        MetricInputError: empty input, different lengths, NaN/inf, labels not 0/1,
            probabilities outside [0, 1].
    """
    y = np.asarray(labels)
    s = np.asarray(scores, dtype=np.float64) if _is_numeric(scores) else None
    if s is None:
        raise MetricInputError("scores must be numbers")
    if y.ndim != 1 or s.ndim != 1:
        raise MetricInputError(f"labels and scores must be 1-D (got shapes {y.shape} and {s.shape})")
    if y.size != s.size:
        raise MetricInputError(f"labels and scores differ in length ({y.size} vs {s.size})")
    if y.size == 0:
        raise MetricInputError("no predictions to evaluate (empty input)")
    if not np.all(np.isfinite(s)):
        bad = int(np.count_nonzero(~np.isfinite(s)))
        raise MetricInputError(f"{bad} score(s) are NaN or infinite")
    try:
        yf = y.astype(np.float64)
    except (TypeError, ValueError):
        raise MetricInputError("labels must be 0 (normal) or 1 (glaucoma)") from None
    if not np.all((yf == 0) | (yf == 1)):
        odd = sorted({str(v) for v in np.asarray(labels)[(yf != 0) & (yf != 1)]})[:5]
        raise MetricInputError(f"labels must be 0 (normal) or 1 (glaucoma); found {', '.join(odd)}")
    if probabilities and (s.min() < 0 or s.max() > 1):
        raise MetricInputError(f"probabilities must lie in [0, 1] (found {s.min():.4g}..{s.max():.4g})")
    return yf.astype(np.int8), s


def _is_numeric(values) -> bool:
    try:
        np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        return False
    return True


def _thresholds_for(threshold, n: int) -> np.ndarray:
    t = np.asarray(threshold, dtype=np.float64)
    if t.ndim == 0:
        t = np.full(n, float(t))
    if t.shape != (n,):
        raise MetricInputError(f"threshold must be one number or one per prediction (got shape {t.shape})")
    if not np.all(np.isfinite(t)):
        raise MetricInputError("threshold must be a finite number")
    return t


def _require_both_classes(y: np.ndarray, what: str) -> None:
    n_pos = int(y.sum())
    if n_pos == 0:
        raise UndefinedMetricError(f"{what} is undefined: no glaucoma images (only one class)")
    if n_pos == y.size:
        raise UndefinedMetricError(f"{what} is undefined: no normal images (only one class)")


def _ratio(numerator: int, denominator: int, what: str, why: str) -> float:
    if denominator == 0:
        raise UndefinedMetricError(f"{what} is undefined: {why}")
    return numerator / denominator


# --- confusion-matrix metrics -------------------------------------------------------------


def predict_labels(probabilities, threshold=0.5) -> np.ndarray:
    """0/1 calls: 1 (glaucoma) where ``probability >= threshold``."""
    p = np.asarray(probabilities, dtype=np.float64)
    return (p >= _thresholds_for(threshold, p.size)).astype(np.int8)


def confusion_counts(labels, probabilities, threshold=0.5) -> dict[str, int]:
    """Counts ``tp, fp, tn, fn`` (positive = glaucoma) at ``threshold``."""
    y, p = check_inputs(labels, probabilities)
    pred = predict_labels(p, threshold)
    return {
        "tp": int(np.count_nonzero((pred == 1) & (y == 1))),
        "fp": int(np.count_nonzero((pred == 1) & (y == 0))),
        "tn": int(np.count_nonzero((pred == 0) & (y == 0))),
        "fn": int(np.count_nonzero((pred == 0) & (y == 1))),
    }


def rates_from_counts(tp: int, fp: int, tn: int, fn: int) -> tuple[dict[str, float], dict[str, str]]:
    """Threshold metrics from confusion counts.

    Returns ``(values, undefined)``: values holds accuracy, sensitivity, specificity,
    precision, npv, f1, balanced_accuracy and fn_rate (= FN / (TP + FN), the miss rate);
    an undefined one is NaN with its reason in ``undefined``.
    """
    values: dict[str, float] = {}
    undefined: dict[str, str] = {}
    n = tp + fp + tn + fn
    pos, neg, called = tp + fn, tn + fp, tp + fp
    formulas = {
        "accuracy": (tp + tn, n, "no predictions"),
        "sensitivity": (tp, pos, "no glaucoma images"),
        "specificity": (tn, neg, "no normal images"),
        "precision": (tp, called, "no image called glaucoma at this threshold"),
        "npv": (tn, tn + fn, "no image called normal at this threshold"),
        "fn_rate": (fn, pos, "no glaucoma images"),
    }
    for name, (num, den, why) in formulas.items():
        values[name] = num / den if den else math.nan
        if not den:
            undefined[name] = f"{name} is undefined: {why}"
    if 2 * tp + fp + fn:
        values["f1"] = 2 * tp / (2 * tp + fp + fn)
    else:
        values["f1"] = math.nan
        undefined["f1"] = "f1 is undefined: no glaucoma images and none called glaucoma"
    if pos and neg:
        values["balanced_accuracy"] = (values["sensitivity"] + values["specificity"]) / 2
    else:
        values["balanced_accuracy"] = math.nan
        undefined["balanced_accuracy"] = "balanced_accuracy is undefined: only one class present"
    return values, undefined


def _rate(name: str, labels, probabilities, threshold) -> float:
    values, undefined = rates_from_counts(**confusion_counts(labels, probabilities, threshold))
    if name in undefined:
        raise UndefinedMetricError(undefined[name])
    return values[name]


def accuracy(labels, probabilities, threshold=0.5) -> float:
    """Fraction of images called correctly at ``threshold``."""
    return _rate("accuracy", labels, probabilities, threshold)


def sensitivity(labels, probabilities, threshold=0.5) -> float:
    """TP / (TP + FN): fraction of glaucoma images called glaucoma (recall)."""
    return _rate("sensitivity", labels, probabilities, threshold)


def specificity(labels, probabilities, threshold=0.5) -> float:
    """TN / (TN + FP): fraction of normal images called normal."""
    return _rate("specificity", labels, probabilities, threshold)


def precision(labels, probabilities, threshold=0.5) -> float:
    """TP / (TP + FP): fraction of glaucoma calls that are glaucoma (PPV)."""
    return _rate("precision", labels, probabilities, threshold)


def f1_score(labels, probabilities, threshold=0.5) -> float:
    """F1 of the glaucoma class: 2 TP / (2 TP + FP + FN)."""
    return _rate("f1", labels, probabilities, threshold)


def balanced_accuracy(labels, probabilities, threshold=0.5) -> float:
    """Mean of sensitivity and specificity."""
    return _rate("balanced_accuracy", labels, probabilities, threshold)


def brier_score(labels, probabilities) -> float:
    """Mean squared difference between P(glaucoma) and the 0/1 label (lower is better)."""
    y, p = check_inputs(labels, probabilities, probabilities=True)
    return float(np.mean((p - y) ** 2))


# --- ROC and precision-recall curves ------------------------------------------------------


def roc_points(labels, scores) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ROC curve with one point per distinct score, starting at (0, 0).

    Returns ``(fpr, tpr, thresholds)``: calling glaucoma when ``score >= thresholds[i]`` gives
    ``fpr[i], tpr[i]``; ``thresholds[0]`` is ``inf`` (nothing called glaucoma). Same points
    as ``sklearn.metrics.roc_curve(..., drop_intermediate=False)``.
    """
    y, s = check_inputs(labels, scores)
    _require_both_classes(y, "the ROC curve")
    return _roc_points_unchecked(y, s)


def _roc_points_unchecked(y: np.ndarray, s: np.ndarray):
    order = np.argsort(-s, kind="mergesort")
    s_sorted, y_sorted = s[order], y[order]
    last_of_run = np.r_[np.flatnonzero(np.diff(s_sorted)), s_sorted.size - 1]
    tps = np.cumsum(y_sorted)[last_of_run]
    fps = (last_of_run + 1) - tps
    n_pos, n_neg = tps[-1], fps[-1]
    fpr = np.r_[0.0, fps / n_neg]
    tpr = np.r_[0.0, tps / n_pos]
    return fpr, tpr, np.r_[np.inf, s_sorted[last_of_run]]


def auc(labels, scores) -> float:
    """Area under the ROC curve (probability that a glaucoma image outscores a normal one)."""
    y, s = check_inputs(labels, scores)
    _require_both_classes(y, "AUC")
    return _auc_unchecked(y, s)


def _auc_unchecked(y: np.ndarray, s: np.ndarray) -> float:
    from scipy.stats import rankdata

    ranks = rankdata(s)  # midranks: ties count one half
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    return float((ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def average_precision(labels, scores) -> float:
    """Average precision: sum over thresholds of (recall step) x precision (no interpolation)."""
    y, s = check_inputs(labels, scores)
    if y.sum() == 0:
        raise UndefinedMetricError("average precision is undefined: no glaucoma images")
    return _average_precision_unchecked(y, s)


def _average_precision_unchecked(y: np.ndarray, s: np.ndarray) -> float:
    order = np.argsort(-s, kind="mergesort")
    s_sorted, y_sorted = s[order], y[order]
    last_of_run = np.r_[np.flatnonzero(np.diff(s_sorted)), s_sorted.size - 1]
    tps = np.cumsum(y_sorted)[last_of_run]
    called = last_of_run + 1
    prec = tps / called
    recall = tps / tps[-1]
    return float(np.sum(np.diff(np.r_[0.0, recall]) * prec))


def precision_recall_points(labels, scores) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Precision-recall curve: ``(precision, recall, thresholds)``, one point per distinct score
    (highest threshold first), beginning with the point (precision 1, recall 0)."""
    y, s = check_inputs(labels, scores)
    if y.sum() == 0:
        raise UndefinedMetricError("the precision-recall curve is undefined: no glaucoma images")
    order = np.argsort(-s, kind="mergesort")
    s_sorted, y_sorted = s[order], y[order]
    last_of_run = np.r_[np.flatnonzero(np.diff(s_sorted)), s_sorted.size - 1]
    tps = np.cumsum(y_sorted)[last_of_run]
    prec = tps / (last_of_run + 1)
    recall = tps / tps[-1]
    return np.r_[1.0, prec], np.r_[0.0, recall], np.r_[np.inf, s_sorted[last_of_run]]


def sensitivity_at_specificity(labels, scores, specificity: float = REFUGE_SPECIFICITY, *,
                               method: str = "interpolate") -> float:
    """Sensitivity of the ROC curve where specificity = ``specificity``.

    Args:
        labels, scores: as everywhere (1 = glaucoma).
        specificity: target specificity in [0, 1] (0.85 REFUGE, 0.95 AIROGS).
        method: ``"interpolate"`` (straight line between ROC points, see module docstring) or
            ``"step"`` (best actual threshold with specificity >= target).
    """
    if not 0.0 <= specificity <= 1.0:
        raise ValueError(f"specificity must be in [0, 1], got {specificity}")
    if method not in ("interpolate", "step"):
        raise ValueError(f"method must be 'interpolate' or 'step', got {method!r}")
    y, s = check_inputs(labels, scores)
    _require_both_classes(y, "sensitivity at fixed specificity")
    fpr, tpr, _ = _roc_points_unchecked(y, s)
    return tpr_at_fpr(fpr, tpr, 1.0 - specificity, method)


def tpr_at_fpr(fpr: np.ndarray, tpr: np.ndarray, target: float, method: str = "interpolate") -> float:
    """Sensitivity read off ROC points (from :func:`roc_points`) at FPR ``target``; see the
    module docstring for the 'interpolate' and 'step' rules."""
    target = min(max(target, 0.0), 1.0) + 1e-12  # forgive float noise in 1 - 0.95
    left = np.flatnonzero(fpr <= target)[-1]  # fpr[0] == 0 so never empty
    if method == "step" or left == fpr.size - 1 or fpr[left] >= target - 2e-12:
        return float(tpr[left])
    right = left + 1  # first point beyond the target; fpr increases by runs, tpr within run
    x0, y0, x1, y1 = fpr[left], tpr[left], fpr[right], tpr[right]
    return float(y0 + (y1 - y0) * (target - 1e-12 - x0) / (x1 - x0))


def partial_auc(labels, scores, min_specificity: float = PAUC_MIN_SPECIFICITY, *,
                standardized: bool = True) -> float:
    """Area under the ROC curve over specificity >= ``min_specificity`` (FPR <= 1 - it).

    ``standardized=True``: McClish-standardised, equal to ``roc_auc_score(max_fpr=1 - min_specificity)``
    (0.5 chance, 1 perfect). ``False``: the raw area, between 0 and ``1 - min_specificity``.
    """
    if not 0.0 <= min_specificity < 1.0:
        raise ValueError(f"min_specificity must be in [0, 1), got {min_specificity}")
    y, s = check_inputs(labels, scores)
    _require_both_classes(y, "partial AUC")
    fpr, tpr, _ = _roc_points_unchecked(y, s)
    return _partial_auc_from_roc(fpr, tpr, 1.0 - min_specificity, standardized)


def _partial_auc_from_roc(fpr, tpr, max_fpr: float, standardized: bool) -> float:
    if max_fpr >= 1.0:
        return float(np.trapezoid(tpr, fpr))
    stop = np.searchsorted(fpr, max_fpr, side="right")
    x = np.r_[fpr[:stop], max_fpr]
    y = np.r_[tpr[:stop], np.interp(max_fpr, [fpr[stop - 1], fpr[stop]], [tpr[stop - 1], tpr[stop]])]
    raw = float(np.trapezoid(y, x))
    if not standardized:
        return raw
    min_area, max_area = 0.5 * max_fpr**2, max_fpr
    return 0.5 * (1 + (raw - min_area) / (max_area - min_area))


# --- everything at once -------------------------------------------------------------------

METRIC_NAMES: tuple[str, ...] = (
    "n", "n_glaucoma", "n_normal", "threshold", "tp", "fp", "tn", "fn",
    "accuracy", "sensitivity", "specificity", "precision", "npv", "f1", "balanced_accuracy", "fn_rate",
    "auc", "average_precision", "sens_at_spec85", "sens_at_spec95", "pauc_spec90", "brier",
)

# Labels for tables: metric -> human header.
METRIC_LABELS = {
    "accuracy": "Accuracy", "sensitivity": "Sensitivity", "specificity": "Specificity",
    "precision": "Precision (PPV)", "npv": "NPV", "f1": "F1 (glaucoma)",
    "balanced_accuracy": "Balanced accuracy", "fn_rate": "FN rate (miss rate)", "auc": "AUC",
    "average_precision": "Average precision", "sens_at_spec85": "Sensitivity @ 85% specificity",
    "sens_at_spec95": "Sensitivity @ 95% specificity",
    "pauc_spec90": "Partial AUC, specificity >= 0.9 (McClish)", "brier": "Brier score",
}


def classification_metrics(labels, probabilities, threshold=0.5) -> dict:
    """Every metric of one set of predictions.

    Args:
        labels: 0/1 per image (1 = glaucoma).
        probabilities: P(glaucoma) per image, in [0, 1].
        threshold: decision threshold (scalar, or one per image).

    Returns:
        dict with the keys of :data:`METRIC_NAMES` (``threshold`` is the scalar threshold, or
        NaN when per-image thresholds were given) and ``undefined``: {metric: reason} for every
        metric that is NaN.

    Raises:
        MetricInputError: for input that cannot be evaluated at all.
    """
    y, p = check_inputs(labels, probabilities, probabilities=True)
    t = np.asarray(threshold, dtype=np.float64)
    counts = confusion_counts(y, p, threshold)
    rates, undefined = rates_from_counts(**counts)
    result: dict = {
        "n": int(y.size),
        "n_glaucoma": int(y.sum()),
        "n_normal": int(y.size - y.sum()),
        "threshold": float(t) if t.ndim == 0 else math.nan,
        **counts,
        **rates,
    }
    curve_metrics = {
        "auc": lambda: auc(y, p),
        "average_precision": lambda: average_precision(y, p),
        "sens_at_spec85": lambda: sensitivity_at_specificity(y, p, REFUGE_SPECIFICITY),
        "sens_at_spec95": lambda: sensitivity_at_specificity(y, p, AIROGS_SPECIFICITY),
        "pauc_spec90": lambda: partial_auc(y, p, PAUC_MIN_SPECIFICITY),
    }
    for name, compute in curve_metrics.items():
        try:
            result[name] = compute()
        except UndefinedMetricError as exc:
            result[name] = math.nan
            undefined[name] = str(exc)
    result["brier"] = brier_score(y, p)
    result["undefined"] = undefined
    return {key: result[key] for key in (*METRIC_NAMES, "undefined")}


def metric_value(name: str, labels: Sequence, probabilities: Sequence, threshold=0.5) -> float:
    """One metric by name (a key of :data:`METRIC_NAMES`); raises UndefinedMetricError when undefined."""
    result = classification_metrics(labels, probabilities, threshold)
    if name not in result or name == "undefined":
        raise KeyError(f"unknown metric {name!r}; known: {', '.join(METRIC_NAMES)}")
    if name in result["undefined"]:
        raise UndefinedMetricError(result["undefined"][name])
    return result[name]
