"""Confidence intervals: DeLong for AUC, seeded stratified bootstrap for the rest, t over folds.

* :func:`delong_auc_covariance` is the fast DeLong algorithm of Sun & Xu (2014, IEEE Signal
  Processing Letters 21(11)): structural components from midranks, O(n log n) per model.
* :func:`auc_interval`: AUC +- z * DeLong standard error (Wald interval, clipped to [0, 1]).
* :func:`bootstrap_interval`: percentile interval of any metric over resamples drawn with
  replacement *within each class* (stratified, so every resample keeps both classes and the
  prevalence); a resample where the metric is undefined is skipped and counted.
* :func:`t_interval`: mean +- t(n-1) * sd / sqrt(n) over fold values.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

from glaucoma_core.evaluation import metrics as m


@dataclass(frozen=True)
class Interval:
    """A point estimate with a two-sided interval.

    ``estimate``/``low``/``high`` may be NaN; ``note`` then says why. ``method`` names how the
    interval was computed ('delong', 'bootstrap', 't', 'none').
    """

    estimate: float
    low: float
    high: float
    confidence: float = 0.95
    method: str = "none"
    note: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


# --- DeLong --------------------------------------------------------------------------------


def _midranks(x: np.ndarray) -> np.ndarray:
    """Midranks (1-based, ties share the average rank) along the last axis."""
    return stats.rankdata(x, axis=-1)


def delong_auc_covariance(labels, scores_matrix) -> tuple[np.ndarray, np.ndarray]:
    """AUCs and their DeLong covariance for one or more models on the same images.

    Args:
        labels: 0/1 per image (1 = glaucoma); both classes required.
        scores_matrix: scores of shape (n_images,) for one model or (n_models, n_images).

    Returns:
        ``(aucs, covariance)``: shape (k,) and (k, k).
    """
    scores = np.atleast_2d(np.asarray(scores_matrix, dtype=np.float64))
    y, _ = m.check_inputs(labels, scores[0])
    for row in scores[1:]:
        m.check_inputs(y, row)
    m._require_both_classes(y, "the DeLong AUC variance")
    pos, neg = scores[:, y == 1], scores[:, y == 0]
    n_pos, n_neg = pos.shape[1], neg.shape[1]
    tx = _midranks(pos)
    ty = _midranks(neg)
    tz = _midranks(np.concatenate([pos, neg], axis=1))
    aucs = tz[:, :n_pos].sum(axis=1) / (n_pos * n_neg) - (n_pos + 1.0) / (2.0 * n_neg)
    v_pos = (tz[:, :n_pos] - tx) / n_neg  # per glaucoma image: share of normals it outscores
    v_neg = 1.0 - (tz[:, n_pos:] - ty) / n_pos  # per normal image: share of glaucoma above it
    cov_pos = np.atleast_2d(np.cov(v_pos)) if n_pos > 1 else np.zeros((len(scores), len(scores)))
    cov_neg = np.atleast_2d(np.cov(v_neg)) if n_neg > 1 else np.zeros((len(scores), len(scores)))
    return aucs, cov_pos / n_pos + cov_neg / n_neg


def auc_interval(labels, scores, confidence: float = 0.95) -> Interval:
    """AUC with its DeLong (Wald) interval, clipped to [0, 1]; NaN with a note when undefined."""
    try:
        aucs, cov = delong_auc_covariance(labels, scores)
    except m.UndefinedMetricError as exc:
        return Interval(math.nan, math.nan, math.nan, confidence, "delong", str(exc))
    value, se = float(aucs[0]), math.sqrt(max(float(cov[0, 0]), 0.0))
    z = stats.norm.ppf(0.5 + confidence / 2)
    note = "" if se > 0 else "DeLong variance is 0 (perfectly separated or too few images)"
    return Interval(value, max(0.0, value - z * se), min(1.0, value + z * se), confidence, "delong", note)


# --- bootstrap -----------------------------------------------------------------------------


def stratified_bootstrap_indices(labels, n_resamples: int, seed: int = 0) -> np.ndarray:
    """Index matrix (n_resamples, n): each row resamples glaucoma and normal images separately."""
    y = np.asarray(labels)
    rng = np.random.default_rng(seed)
    out = np.empty((n_resamples, y.size), dtype=np.int64)
    col = 0
    for cls in (1, 0):
        members = np.flatnonzero(y == cls)
        if members.size:
            out[:, col : col + members.size] = rng.choice(members, size=(n_resamples, members.size))
            col += members.size
    return out


def bootstrap_interval(labels, probabilities, statistic: Callable[[np.ndarray, np.ndarray], float], *,
                       n_resamples: int = 1000, seed: int = 0, confidence: float = 0.95,
                       stratified: bool = True) -> Interval:
    """Percentile bootstrap interval of ``statistic(labels, probabilities)``.

    Args:
        labels, probabilities: the predictions (validated like every metric).
        statistic: function of (labels, probabilities) -> float; may raise
            ``UndefinedMetricError`` or return NaN for a resample (that resample is skipped).
        n_resamples: number of bootstrap resamples.
        seed: random seed: same seed, same interval.
        confidence: e.g. 0.95.
        stratified: resample within each class (default) or from all images.
    """
    y, p = m.check_inputs(labels, probabilities)
    try:
        estimate = float(statistic(y, p))
    except m.UndefinedMetricError as exc:
        return Interval(math.nan, math.nan, math.nan, confidence, "bootstrap", str(exc))
    if stratified:
        index = stratified_bootstrap_indices(y, n_resamples, seed)
    else:
        index = np.random.default_rng(seed).integers(0, y.size, size=(n_resamples, y.size))
    values = np.full(n_resamples, np.nan)
    for i, rows in enumerate(index):
        try:
            values[i] = statistic(y[rows], p[rows])
        except m.UndefinedMetricError:
            pass
    return _percentile_interval(estimate, values, confidence)


def _percentile_interval(estimate: float, values: np.ndarray, confidence: float) -> Interval:
    ok = values[np.isfinite(values)]
    skipped = values.size - ok.size
    note = f"{skipped} of {values.size} resamples had no value" if skipped else ""
    if math.isnan(estimate) or ok.size < 2:
        return Interval(estimate, math.nan, math.nan, confidence, "bootstrap",
                        note or "too few resamples with a value")
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(ok, [tail, 100 - tail])
    return Interval(estimate, float(low), float(high), confidence, "bootstrap", note)


# Metrics that get a bootstrap interval in metric_intervals (AUC gets DeLong).
BOOTSTRAP_METRICS = ("accuracy", "sensitivity", "specificity", "precision", "f1", "balanced_accuracy",
                     "average_precision", "sens_at_spec85", "sens_at_spec95", "pauc_spec90", "brier")


def metric_intervals(labels, probabilities, threshold=0.5, *, n_resamples: int = 1000, seed: int = 0,
                     confidence: float = 0.95) -> dict[str, Interval]:
    """95 % intervals for every reported metric: AUC by DeLong, the others by stratified bootstrap.

    ``threshold`` may be a scalar or one per image (it follows its image through resampling).
    The bootstrap is vectorised: one resample index matrix shared by all metrics.
    """
    y, p = m.check_inputs(labels, probabilities, probabilities=True)
    t = np.broadcast_to(np.asarray(threshold, dtype=np.float64), y.shape)
    point = m.classification_metrics(y, p, threshold)
    out = {"auc": auc_interval(y, p, confidence)}
    index = stratified_bootstrap_indices(y, n_resamples, seed)
    samples = {name: np.full(n_resamples, np.nan) for name in BOOTSTRAP_METRICS}
    y_b, p_b, called_b = y[index], p[index], (p[index] >= t[index])
    tp = np.sum(called_b & (y_b == 1), axis=1)
    fp = np.sum(called_b & (y_b == 0), axis=1)
    fn = np.sum(~called_b & (y_b == 1), axis=1)
    tn = np.sum(~called_b & (y_b == 0), axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        samples["accuracy"] = (tp + tn) / y.size
        samples["sensitivity"] = tp / (tp + fn)
        samples["specificity"] = tn / (tn + fp)
        samples["precision"] = tp / (tp + fp)
        samples["f1"] = 2 * tp / (2 * tp + fp + fn)
        samples["balanced_accuracy"] = (samples["sensitivity"] + samples["specificity"]) / 2
    samples["brier"] = np.mean((p_b - y_b) ** 2, axis=1)
    both = 0 < y.sum() < y.size
    if both:
        for i in range(n_resamples):
            fpr, tpr, _ = m._roc_points_unchecked(y_b[i], p_b[i])
            samples["sens_at_spec85"][i] = m.tpr_at_fpr(fpr, tpr, 1 - m.REFUGE_SPECIFICITY)
            samples["sens_at_spec95"][i] = m.tpr_at_fpr(fpr, tpr, 1 - m.AIROGS_SPECIFICITY)
            samples["pauc_spec90"][i] = m._partial_auc_from_roc(fpr, tpr, 1 - m.PAUC_MIN_SPECIFICITY, True)
            samples["average_precision"][i] = m._average_precision_unchecked(y_b[i], p_b[i])
    for name in BOOTSTRAP_METRICS:
        estimate = point[name]
        if name in point["undefined"]:
            out[name] = Interval(math.nan, math.nan, math.nan, confidence, "bootstrap", point["undefined"][name])
        else:
            out[name] = _percentile_interval(float(estimate), samples[name], confidence)
    return out


# --- t-interval over folds ----------------------------------------------------------------


def t_interval(values, confidence: float = 0.95) -> Interval:
    """Mean of per-fold values with a Student-t interval (df = n - 1); NaNs are dropped.

    Fewer than two values: the interval is NaN with a note.
    """
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return Interval(math.nan, math.nan, math.nan, confidence, "t", "no values")
    mean = float(v.mean())
    if v.size < 2:
        return Interval(mean, math.nan, math.nan, confidence, "t", "one value: no interval")
    half = stats.t.ppf(0.5 + confidence / 2, df=v.size - 1) * v.std(ddof=1) / math.sqrt(v.size)
    return Interval(mean, mean - half, mean + half, confidence, "t")
