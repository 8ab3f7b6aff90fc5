"""Reliability curve and ECE against scikit-learn; the classification report names glaucoma."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.calibration import calibration_curve

from glaucoma_core.evaluation import calibration as cal
from glaucoma_core.evaluation import report


@pytest.mark.parametrize("strategy", ["uniform", "quantile"])
def test_reliability_curve_matches_sklearn(strategy):
    rng = np.random.default_rng(0)
    p = rng.uniform(0, 1, 300)
    p[:5] = [0.0, 0.1, 0.5, 1.0, 0.3]  # edges
    y = (rng.uniform(0, 1, 300) < p).astype(int)
    curve = cal.reliability_curve(y, p, n_bins=10, strategy=strategy)
    frac, mean = calibration_curve(y, p, n_bins=10, strategy=strategy)
    np.testing.assert_allclose(curve["fraction_glaucoma"], frac)
    np.testing.assert_allclose(curve["mean_predicted"], mean)
    assert curve["count"].sum() == 300


def test_ece_hand_computed():
    # bin [0, .1]: p 0.05 x2, one glaucoma -> |0.5 - 0.05| ; bin (.9, 1]: p 0.95 x2, both -> 0.05
    ece = cal.expected_calibration_error([0, 1, 1, 1], [0.05, 0.05, 0.95, 0.95])
    assert ece == pytest.approx(0.5 * 0.45 + 0.5 * 0.05)
    assert cal.expected_calibration_error([0, 1], [0.0, 1.0]) == 0.0
    with pytest.raises(ValueError, match="strategy"):
        cal.reliability_curve([0, 1], [0.1, 0.9], strategy="odd")


def test_classification_report_names_glaucoma_as_positive():
    labels = [1, 1, 1, 0, 0, 0, 0]
    probs = [0.9, 0.8, 0.2, 0.1, 0.3, 0.6, 0.2]
    text = report.classification_report_text(labels, probs)
    assert "glaucoma" in text and "normal" in text and "abnormal" not in text
    as_dict = report.classification_report_dict(labels, probs)
    assert as_dict["glaucoma"]["recall"] == pytest.approx(2 / 3)  # sensitivity
    assert as_dict["normal"]["recall"] == pytest.approx(3 / 4)  # specificity
    assert as_dict["glaucoma"]["support"] == 3
