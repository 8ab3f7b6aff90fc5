"""Paired comparisons: DeLong, McNemar exact, Nadeau-Bengio, Wilcoxon."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from glaucoma_core.evaluation import paired_tests as pt

from .test_intervals import slow_delong


def test_delong_test_against_slow_direct_computation():
    rng = np.random.default_rng(11)
    y = rng.integers(0, 2, 90)
    a = rng.normal(y * 1.2, 1.0)
    b = 0.5 * a + rng.normal(y * 0.3, 1.0)
    result = pt.delong_test(y, a, b)
    aucs, cov = slow_delong(y, a, b)
    se = math.sqrt(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])
    z = (aucs[0] - aucs[1]) / se
    assert result["auc_a"] == pytest.approx(aucs[0])
    assert result["difference"] == pytest.approx(aucs[0] - aucs[1])
    assert result["se"] == pytest.approx(se)
    assert result["p_value"] == pytest.approx(2 * stats.norm.sf(abs(z)))
    assert result["ci_low"] < result["difference"] < result["ci_high"]


def test_delong_identical_models_and_one_class():
    y = [0, 1, 0, 1, 1]
    s = [0.1, 0.9, 0.4, 0.3, 0.8]
    same = pt.delong_test(y, s, s)
    assert same["difference"] == 0 and same["p_value"] == 1.0 and same["note"]
    one = pt.delong_test([1, 1], [0.2, 0.3], [0.3, 0.4])
    assert math.isnan(one["p_value"]) and "only one class" in one["note"]


def test_mcnemar_exact_hand_computed():
    # 10 images; A right & B wrong on 5, A wrong & B right on 1, 4 both right
    y = [1] * 10
    a = [1, 1, 1, 1, 1, 0, 1, 1, 1, 1]
    b = [0, 0, 0, 0, 0, 1, 1, 1, 1, 1]
    result = pt.mcnemar_exact(y, a, b)
    assert (result["a_right_b_wrong"], result["a_wrong_b_right"]) == (5, 1)
    # two-sided exact binomial, n = 6: 2 * P(X <= 1) = 2 * (1 + 6) / 64
    assert result["p_value"] == pytest.approx(14 / 64)
    assert pt.mcnemar_exact(y, a, a)["p_value"] == 1.0
    with pytest.raises(ValueError, match="0/1 calls"):
        pt.mcnemar_exact([0, 1], [0.2, 0.7], [0, 1])


def test_nadeau_bengio_hand_computed():
    d = [0.02, 0.01, 0.03, 0.00, 0.04]
    result = pt.nadeau_bengio_ttest(d, n_train=90, n_test=10)
    sd = np.std(d, ddof=1)
    t = np.mean(d) / math.sqrt((1 / 5 + 10 / 90) * sd**2)
    assert result["t"] == pytest.approx(t)
    assert result["p_value"] == pytest.approx(2 * stats.t.sf(abs(t), 4))
    naive = stats.ttest_1samp(d, 0.0).pvalue
    assert result["p_value"] > naive  # the correction makes it more conservative
    assert math.isnan(pt.nadeau_bengio_ttest([0.1], 90, 10)["p_value"])
    assert pt.nadeau_bengio_ttest([0.0, 0.0, 0.0], 90, 10)["p_value"] == 1.0
    assert math.isnan(pt.nadeau_bengio_ttest([0.1, 0.1], 90, 10)["p_value"])
    with pytest.raises(ValueError, match="positive"):
        pt.nadeau_bengio_ttest(d, 0, 10)


def test_wilcoxon_matches_scipy_and_handles_zeros():
    d = [0.02, -0.01, 0.03, 0.05, 0.04, 0.01]
    assert pt.wilcoxon_signed_rank(d)["p_value"] == pytest.approx(stats.wilcoxon(d).pvalue)
    assert pt.wilcoxon_signed_rank([0, 0, 0])["p_value"] == 1.0
    assert math.isnan(pt.wilcoxon_signed_rank([0.1])["p_value"])
