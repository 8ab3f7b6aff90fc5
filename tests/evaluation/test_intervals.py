"""DeLong (fast vs a slow direct computation), bootstrap and t intervals."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from glaucoma_core.evaluation import intervals as iv
from glaucoma_core.evaluation import metrics as m


def slow_delong(labels, scores_a, scores_b=None):
    """DeLong et al. (1988) straight from the definition, O(n_pos * n_neg).

    psi(x, y) = 1 if x > y, 1/2 if equal, 0 otherwise; V10(x_i) = mean_j psi(x_i, y_j),
    V01(y_j) = mean_i psi(x_i, y_j); var = S10 / m + S01 / n with S the sample covariances.
    """
    y = np.asarray(labels)
    mats = [np.asarray(scores_a, float)] + ([np.asarray(scores_b, float)] if scores_b is not None else [])
    v10, v01, aucs = [], [], []
    for s in mats:
        x, z = s[y == 1], s[y == 0]
        psi = np.zeros((x.size, z.size))
        for i in range(x.size):
            for j in range(z.size):
                psi[i, j] = 1.0 if x[i] > z[j] else 0.5 if x[i] == z[j] else 0.0
        aucs.append(psi.mean())
        v10.append(psi.mean(axis=1))
        v01.append(psi.mean(axis=0))
    s10 = np.atleast_2d(np.cov(np.array(v10)))
    s01 = np.atleast_2d(np.cov(np.array(v01)))
    return np.array(aucs), s10 / len(v10[0]) + s01 / len(v01[0])


def _data(seed, n=80, ties=False):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    a = rng.normal(y * 1.0, 1.0)
    b = 0.6 * a + rng.normal(y * 0.5, 1.0)
    if ties:
        a, b = np.round(a), np.round(b)
    return y, a, b


@pytest.mark.parametrize("seed,ties", [(0, False), (1, True), (2, False), (3, True)])
def test_fast_delong_equals_slow_direct_computation(seed, ties):
    y, a, b = _data(seed, ties=ties)
    fast_auc, fast_cov = iv.delong_auc_covariance(y, np.vstack([a, b]))
    slow_auc, slow_cov = slow_delong(y, a, b)
    np.testing.assert_allclose(fast_auc, slow_auc, rtol=1e-12)
    np.testing.assert_allclose(fast_cov, slow_cov, rtol=1e-10, atol=1e-15)


def test_delong_tiny_hand_computed_example():
    # glaucoma scores 0.8, 0.6; normal scores 0.7, 0.2
    # psi: 0.8 beats both (1, 1); 0.6 loses to 0.7, beats 0.2 (0, 1)  -> AUC 3/4
    # V10 = [1, 0.5] -> var 0.125 ; V01 (per normal) = [0.5, 1] -> var 0.125
    # Var(AUC) = 0.125/2 + 0.125/2 = 0.125
    aucs, cov = iv.delong_auc_covariance([1, 1, 0, 0], [0.8, 0.6, 0.7, 0.2])
    assert aucs[0] == pytest.approx(0.75)
    assert cov[0, 0] == pytest.approx(0.125)


def test_auc_interval_contains_estimate_and_matches_normal_approximation():
    y, a, _ = _data(4, n=200)
    interval = iv.auc_interval(y, a)
    _, cov = slow_delong(y, a)
    half = stats.norm.ppf(0.975) * math.sqrt(cov[0, 0])
    assert interval.estimate == pytest.approx(m.auc(y, a))
    assert interval.low == pytest.approx(interval.estimate - half)
    assert interval.high == pytest.approx(interval.estimate + half)
    assert interval.method == "delong"


def test_auc_interval_one_class_is_nan_with_note():
    interval = iv.auc_interval([1, 1, 1], [0.2, 0.5, 0.9])
    assert math.isnan(interval.estimate) and "only one class" in interval.note


def test_bootstrap_is_seeded_stratified_and_covers():
    y, a, _ = _data(5, n=150)
    p = 1 / (1 + np.exp(-a))
    first = iv.bootstrap_interval(y, p, m.auc, n_resamples=200, seed=7)
    again = iv.bootstrap_interval(y, p, m.auc, n_resamples=200, seed=7)
    other = iv.bootstrap_interval(y, p, m.auc, n_resamples=200, seed=8)
    assert first == again and first != other
    assert first.low < first.estimate < first.high
    index = iv.stratified_bootstrap_indices(y, 50, seed=0)
    assert np.all(y[index].sum(axis=1) == y.sum())  # prevalence kept in every resample


def test_metric_intervals_vectorised_agree_with_generic_bootstrap():
    y, a, _ = _data(6, n=120)
    p = 1 / (1 + np.exp(-a))
    fast = iv.metric_intervals(y, p, 0.5, n_resamples=300, seed=3)
    for name, fn in [("sensitivity", m.sensitivity), ("specificity", m.specificity),
                     ("sens_at_spec85", lambda yy, pp: m.sensitivity_at_specificity(yy, pp, 0.85)),
                     ("average_precision", m.average_precision), ("brier", m.brier_score)]:
        slow = iv.bootstrap_interval(y, p, fn, n_resamples=300, seed=3)
        assert fast[name].estimate == pytest.approx(slow.estimate)
        assert fast[name].low == pytest.approx(slow.low)
        assert fast[name].high == pytest.approx(slow.high)
    assert fast["auc"].method == "delong"


def test_metric_intervals_undefined_metric_has_note():
    out = iv.metric_intervals([0, 0, 0, 0], [0.1, 0.2, 0.6, 0.3], n_resamples=20)
    assert math.isnan(out["sensitivity"].estimate) and "no glaucoma" in out["sensitivity"].note
    assert out["specificity"].estimate == pytest.approx(0.75)
    assert math.isnan(out["auc"].estimate)


def test_t_interval():
    values = [0.8, 0.85, 0.9, 0.75]
    interval = iv.t_interval(values)
    half = stats.t.ppf(0.975, 3) * np.std(values, ddof=1) / 2
    assert interval.estimate == pytest.approx(0.825)
    assert interval.high - interval.estimate == pytest.approx(half)
    one = iv.t_interval([0.8])
    assert one.estimate == 0.8 and math.isnan(one.low) and one.note
    assert math.isnan(iv.t_interval([]).estimate)
    assert iv.t_interval([0.8, float("nan"), 0.9]).estimate == pytest.approx(0.85)
