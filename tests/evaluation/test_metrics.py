"""Metrics against scikit-learn and hand-computed cases, including degenerate input."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn import metrics as skm

from glaucoma_core.evaluation import metrics as m


def _random_predictions(seed=0, n=200, ties=False):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    p = np.clip(rng.normal(0.35 + 0.3 * y, 0.2), 0, 1)
    if ties:
        p = np.round(p, 1)
    return y, p


def test_hand_computed_confusion_and_rates():
    labels = [1, 1, 1, 1, 0, 0, 0, 0, 0, 0]
    probs = [0.9, 0.8, 0.4, 0.5, 0.6, 0.1, 0.2, 0.3, 0.45, 0.0]
    # threshold 0.5 (>=): called glaucoma = 0.9, 0.8, 0.5, 0.6 -> tp 3, fp 1, fn 1, tn 5
    result = m.classification_metrics(labels, probs)
    assert (result["tp"], result["fp"], result["tn"], result["fn"]) == (3, 1, 5, 1)
    assert result["accuracy"] == pytest.approx(0.8)
    assert result["sensitivity"] == pytest.approx(0.75)
    assert result["specificity"] == pytest.approx(5 / 6)
    assert result["precision"] == pytest.approx(0.75)
    assert result["f1"] == pytest.approx(0.75)
    assert result["balanced_accuracy"] == pytest.approx((0.75 + 5 / 6) / 2)
    assert result["fn_rate"] == pytest.approx(0.25)
    assert result["npv"] == pytest.approx(5 / 6)
    assert result["undefined"] == {}
    # AUC by hand: positives 0.9, 0.8, 0.5, 0.4 vs 6 negatives; pairs won:
    # 0.9: 6, 0.8: 6, 0.5: 5 (loses to 0.6), 0.4: 4 (beats 0.1, 0.2, 0.3, 0.0) -> 21 / 24
    assert result["auc"] == pytest.approx(21 / 24)


@pytest.mark.parametrize("seed,ties", [(0, False), (1, True), (2, True)])
def test_metrics_match_sklearn(seed, ties):
    y, p = _random_predictions(seed, ties=ties)
    r = m.classification_metrics(y, p, 0.5)
    pred = (p >= 0.5).astype(int)
    assert r["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
    assert r["sensitivity"] == pytest.approx(skm.recall_score(y, pred))
    assert r["specificity"] == pytest.approx(skm.recall_score(y, pred, pos_label=0))
    assert r["precision"] == pytest.approx(skm.precision_score(y, pred))
    assert r["f1"] == pytest.approx(skm.f1_score(y, pred))
    assert r["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(y, pred))
    assert r["auc"] == pytest.approx(skm.roc_auc_score(y, p))
    assert r["average_precision"] == pytest.approx(skm.average_precision_score(y, p))
    assert r["pauc_spec90"] == pytest.approx(skm.roc_auc_score(y, p, max_fpr=0.1))
    assert r["brier"] == pytest.approx(skm.brier_score_loss(y, p))
    tn, fp, fn, tp = skm.confusion_matrix(y, pred, labels=[0, 1]).ravel()
    assert (r["tp"], r["fp"], r["tn"], r["fn"]) == (tp, fp, tn, fn)


@pytest.mark.parametrize("seed,ties", [(3, False), (4, True)])
def test_roc_points_match_sklearn(seed, ties):
    y, p = _random_predictions(seed, ties=ties)
    fpr, tpr, thr = m.roc_points(y, p)
    sk_fpr, sk_tpr, sk_thr = skm.roc_curve(y, p, drop_intermediate=False)
    np.testing.assert_allclose(fpr, sk_fpr)
    np.testing.assert_allclose(tpr, sk_tpr)
    np.testing.assert_allclose(thr[1:], sk_thr[1:])
    prec, rec, _ = m.precision_recall_points(y, p)
    sk_prec, sk_rec, _ = skm.precision_recall_curve(y, p)
    # sklearn lists lowest threshold first and ends with (1, 0)
    np.testing.assert_allclose(prec[1:], sk_prec[:-1][::-1])
    np.testing.assert_allclose(rec[1:], sk_rec[:-1][::-1])


def test_partial_auc_raw_and_other_ranges():
    y, p = _random_predictions(5)
    for min_spec in (0.8, 0.9, 0.95):
        assert m.partial_auc(y, p, min_spec) == pytest.approx(skm.roc_auc_score(y, p, max_fpr=1 - min_spec))
    # raw area for a perfect classifier is the full width of the range
    assert m.partial_auc([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9], 0.9, standardized=False) == pytest.approx(0.1)
    assert m.partial_auc([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9], 0.9) == pytest.approx(1.0)


def test_sensitivity_at_specificity_hand_computed():
    # 4 normals, 4 glaucoma. ROC points by descending score:
    # 0.9(P) (0, .25); 0.8(N) (.25, .25); 0.7(P) (.25, .5); 0.6(P) (.25, .75);
    # 0.5(N) (.5, .75); 0.4(P) (.5, 1); 0.3(N) (.75, 1); 0.2(N) (1, 1)
    labels = [1, 0, 1, 1, 0, 1, 0, 0]
    scores = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2]
    # specificity 0.75 -> fpr 0.25 is a vertex; best tpr there 0.75
    assert m.sensitivity_at_specificity(labels, scores, 0.75) == pytest.approx(0.75)
    assert m.sensitivity_at_specificity(labels, scores, 0.75, method="step") == pytest.approx(0.75)
    # specificity 0.85 -> fpr 0.15: line from (0, .25) to (.25, .25) -> 0.25
    assert m.sensitivity_at_specificity(labels, scores, 0.85) == pytest.approx(0.25)
    # specificity 0.6 -> fpr 0.4: line from (.25, .75) to (.5, .75) -> 0.75 ; step -> 0.75
    assert m.sensitivity_at_specificity(labels, scores, 0.6) == pytest.approx(0.75)
    # specificity 0.375 -> fpr 0.625: line from (.5, 1) to (.75, 1) -> 1
    assert m.sensitivity_at_specificity(labels, scores, 0.375) == pytest.approx(1.0)
    # a diagonal segment (tie between a positive and a negative): (0,0) -> (.5, .5)
    assert m.sensitivity_at_specificity([1, 0, 0], [0.5, 0.5, 0.1], 0.75) == pytest.approx(0.5)
    assert m.sensitivity_at_specificity([1, 0], [0.5, 0.5], 0.75) == pytest.approx(0.25)
    assert m.sensitivity_at_specificity([1, 0], [0.5, 0.5], 0.75, method="step") == pytest.approx(0.0)


def test_sensitivity_at_specificity_step_matches_best_threshold():
    y, p = _random_predictions(6)
    fpr, tpr, _ = skm.roc_curve(y, p)
    for spec in (0.85, 0.95):
        expected = tpr[fpr <= 1 - spec + 1e-12].max()
        assert m.sensitivity_at_specificity(y, p, spec, method="step") == pytest.approx(expected)
        assert m.sensitivity_at_specificity(y, p, spec) >= expected - 1e-12


def test_one_class_gives_nan_with_reason():
    result = m.classification_metrics([0, 0, 0], [0.1, 0.7, 0.3])
    assert math.isnan(result["auc"]) and "only one class" in result["undefined"]["auc"]
    assert math.isnan(result["sensitivity"]) and "no glaucoma" in result["undefined"]["sensitivity"]
    assert result["specificity"] == pytest.approx(2 / 3)
    assert math.isnan(result["average_precision"])
    with pytest.raises(m.UndefinedMetricError, match="only one class"):
        m.auc([1, 1], [0.2, 0.3])
    with pytest.raises(m.UndefinedMetricError, match="no normal"):
        m.specificity([1, 1], [0.2, 0.3])


def test_all_equal_predictions():
    result = m.classification_metrics([0, 1, 0, 1], [0.5, 0.5, 0.5, 0.5])
    assert result["auc"] == pytest.approx(0.5)
    assert result["sensitivity"] == 1.0 and result["specificity"] == 0.0
    none_called = m.classification_metrics([0, 1, 0, 1], [0.2] * 4)
    assert math.isnan(none_called["precision"]) and "called glaucoma" in none_called["undefined"]["precision"]
    assert none_called["f1"] == 0.0


@pytest.mark.parametrize("labels,probs,message", [
    ([], [], "empty"),
    ([0, 1], [0.5], "differ in length"),
    ([0, 1], [0.5, float("nan")], "NaN"),
    ([0, 2], [0.5, 0.4], "labels must be 0"),
    (["a", "b"], [0.5, 0.4], "labels must be 0"),
    ([0, 1], [0.5, 1.4], r"\[0, 1\]"),
    ([0, 1], ["x", "y"], "numbers"),
])
def test_bad_input_raises_clear_value_error(labels, probs, message):
    with pytest.raises(ValueError, match=message):
        m.classification_metrics(labels, probs)


def test_per_image_thresholds():
    result = m.classification_metrics([1, 1, 0], [0.3, 0.6, 0.6], threshold=[0.2, 0.7, 0.7])
    assert (result["tp"], result["fn"], result["tn"]) == (1, 1, 1)
    assert math.isnan(result["threshold"])
    with pytest.raises(ValueError, match="one per prediction"):
        m.classification_metrics([1, 0], [0.3, 0.6], threshold=[0.2, 0.3, 0.4])


def test_metric_value_by_name():
    assert m.metric_value("accuracy", [0, 1], [0.1, 0.9]) == 1.0
    with pytest.raises(KeyError):
        m.metric_value("nope", [0, 1], [0.1, 0.9])


def test_pandas_nullable_input():
    import pandas as pd

    labels = pd.Series([0, 1, 1], dtype="Int64")
    assert m.auc(labels, pd.Series([0.1, 0.8, 0.4], dtype="Float64")) == 1.0
    with pytest.raises(ValueError, match="labels must be 0"):
        m.classification_metrics(pd.Series([0, pd.NA, 1], dtype="Int64"), [0.1, 0.2, 0.3])
