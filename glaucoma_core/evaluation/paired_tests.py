"""Comparing two models on the same images, and across the same folds.

* :func:`delong_test`: DeLong's test for the difference of two correlated AUCs (same images).
* :func:`mcnemar_exact`: McNemar's exact (binomial) test of the two models' correct/wrong
  calls at their own thresholds.
* :func:`nadeau_bengio_ttest`: the corrected resampled t-test over per-fold differences
  (Nadeau & Bengio 2003): variance inflated by ``1/k + n_test/n_train``.
* :func:`wilcoxon_signed_rank`: Wilcoxon signed-rank test over per-fold differences.

Every test returns a dict with ``p_value`` (NaN with a ``note`` when it cannot be computed).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from scipy import stats

from glaucoma_core.evaluation import metrics as m
from glaucoma_core.evaluation.intervals import delong_auc_covariance


def delong_test(labels, scores_a, scores_b, confidence: float = 0.95) -> dict:
    """DeLong's paired test of AUC(A) = AUC(B).

    Args:
        labels: 0/1 per image (1 = glaucoma).
        scores_a, scores_b: each model's P(glaucoma) for the *same* images in the same order.
        confidence: level of the interval for the difference.

    Returns:
        dict auc_a, auc_b, difference (A - B), se, z, p_value (two-sided), ci_low, ci_high, note.
    """
    y, a = m.check_inputs(labels, scores_a)
    _, b = m.check_inputs(y, scores_b)
    try:
        aucs, cov = delong_auc_covariance(y, np.vstack([a, b]))
    except m.UndefinedMetricError as exc:
        nan = math.nan
        return {"auc_a": nan, "auc_b": nan, "difference": nan, "se": nan, "z": nan, "p_value": nan,
                "ci_low": nan, "ci_high": nan, "note": str(exc)}
    diff = float(aucs[0] - aucs[1])
    var = float(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])
    se = math.sqrt(max(var, 0.0))
    note = ""
    if se <= 1e-15:
        z = 0.0 if abs(diff) <= 1e-15 else math.copysign(math.inf, diff)
        p = 1.0 if abs(diff) <= 1e-15 else 0.0
        note = "variance of the difference is 0 (identical rankings or perfect separation)"
    else:
        z = diff / se
        p = float(2 * stats.norm.sf(abs(z)))
    half = stats.norm.ppf(0.5 + confidence / 2) * se
    return {"auc_a": float(aucs[0]), "auc_b": float(aucs[1]), "difference": diff, "se": se, "z": z,
            "p_value": p, "ci_low": diff - half, "ci_high": diff + half, "note": note}


def mcnemar_exact(labels, predicted_a, predicted_b) -> dict:
    """McNemar's exact test: do A and B make different numbers of errors on the same images?

    Args:
        labels: 0/1 truth per image.
        predicted_a, predicted_b: each model's 0/1 calls (at its own threshold).

    Returns:
        dict n, a_right_b_wrong, a_wrong_b_right, both_right, both_wrong, p_value (two-sided
        exact binomial on the discordant pairs; 1.0 when there are none), note.
    """
    y, pa = m.check_inputs(labels, predicted_a)
    _, pb = m.check_inputs(y, predicted_b)
    for name, pred in (("predicted_a", pa), ("predicted_b", pb)):
        if not np.all((pred == 0) | (pred == 1)):
            raise m.MetricInputError(f"{name} must be 0/1 calls (apply the threshold first)")
    right_a, right_b = pa == y, pb == y
    b = int(np.count_nonzero(right_a & ~right_b))
    c = int(np.count_nonzero(~right_a & right_b))
    if b + c == 0:
        p, note = 1.0, "no discordant images: the two models call every image the same way"
    else:
        p, note = float(stats.binomtest(b, b + c, 0.5).pvalue), ""
    return {"n": int(y.size), "a_right_b_wrong": b, "a_wrong_b_right": c,
            "both_right": int(np.count_nonzero(right_a & right_b)),
            "both_wrong": int(np.count_nonzero(~right_a & ~right_b)), "p_value": p, "note": note}


def nadeau_bengio_ttest(differences, n_train: int, n_test: int) -> dict:
    """Corrected resampled t-test over per-fold differences (A - B).

    The folds' training sets overlap, so the plain t-test is too liberal; Nadeau & Bengio
    replace the variance of the mean s^2/k by ``(1/k + n_test/n_train) * s^2``.

    Args:
        differences: one metric difference per fold (NaNs dropped).
        n_train: images a fold's model was trained on (mean over folds is fine).
        n_test: images a fold's model was tested on.

    Returns:
        dict k, mean_difference, sd, t, df, p_value (two-sided, t with k-1 df), note.
    """
    d = np.asarray(differences, dtype=np.float64)
    d = d[np.isfinite(d)]
    k = int(d.size)
    out = {"k": k, "mean_difference": float(d.mean()) if k else math.nan, "sd": math.nan, "t": math.nan,
           "df": max(k - 1, 0), "p_value": math.nan, "note": ""}
    if n_train <= 0 or n_test <= 0:
        raise ValueError(f"n_train and n_test must be positive (got {n_train}, {n_test})")
    if k < 2:
        out["note"] = "needs at least two folds"
        return out
    sd = float(d.std(ddof=1))
    out["sd"] = sd
    if sd == 0.0:
        out["note"] = "every fold has the same difference: the t statistic is undefined"
        if d[0] == 0.0:
            out["p_value"], out["t"] = 1.0, 0.0
        return out
    t = float(d.mean() / math.sqrt((1.0 / k + n_test / n_train) * sd**2))
    out["t"] = t
    out["p_value"] = float(2 * stats.t.sf(abs(t), df=k - 1))
    return out


def wilcoxon_signed_rank(differences) -> dict:
    """Wilcoxon signed-rank test (two-sided, scipy) over per-fold differences (A - B).

    Returns dict k, statistic, p_value, note (NaN p with a note when all differences are 0
    or fewer than two folds remain).
    """
    d = np.asarray(differences, dtype=np.float64)
    d = d[np.isfinite(d)]
    out = {"k": int(d.size), "statistic": math.nan, "p_value": math.nan, "note": ""}
    if d.size < 2:
        out["note"] = "needs at least two folds"
        return out
    if np.all(d == 0):
        out["note"] = "every difference is 0"
        out["p_value"] = 1.0
        return out
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = stats.wilcoxon(d, zero_method="wilcox", alternative="two-sided")
    out["statistic"], out["p_value"] = float(res.statistic), float(res.pvalue)
    return out
