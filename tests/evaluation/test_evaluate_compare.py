"""Run / experiment evaluation and comparison on synthetic stored predictions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from glaucoma_core.evaluation import comparison, evaluate
from glaucoma_core.evaluation import metrics as m


def experiment_predictions(strength=1.0, seed=0, folds=4, n_test=30, n_valid=16, run_offset=0):
    """Predictions as RunStore.predictions returns them: the same images for every strength."""
    rng = np.random.default_rng(seed)
    truth = np.random.default_rng(123)  # same images and labels for every experiment
    rows = []
    for fold in range(1, folds + 1):
        for split, n in (("valid", n_valid), ("test", n_test)):
            y = truth.integers(0, 2, n)
            y[:2] = [0, 1]
            logit = strength * (2 * y - 1) + rng.normal(0, 1, n)
            for i in range(n):
                rows.append({"run_id": run_offset + fold, "fold": fold, "split": split,
                             "path": f"/d/fold_{fold}/{split}/{i}.png", "sha256": f"{fold}-{split}-{i}",
                             "label": int(y[i]), "probability": float(1 / (1 + np.exp(-logit[i])))})
    return pd.DataFrame(rows)


def test_evaluate_run_chooses_on_valid_and_reports_intervals():
    preds = experiment_predictions(folds=1)
    result = evaluate.evaluate_run_predictions(preds, method="target_sensitivity", target=0.9, n_resamples=100)
    valid = preds[preds.split == "valid"]
    t = result["threshold"]["threshold"]
    assert ((valid.probability >= t) & (valid.label == 1)).sum() / valid.label.sum() >= 0.9
    test = preds[preds.split == "test"]
    assert result["metrics"]["fn"] == int(((test.probability < t) & (test.label == 1)).sum())
    auc = result["intervals"]["auc"]
    assert auc["method"] == "delong" and auc["low"] <= auc["estimate"] <= auc["high"]
    assert "glaucoma" in result["report"]


def test_evaluate_experiment_per_fold_and_pooled():
    preds = experiment_predictions()
    older = experiment_predictions(strength=0.0, run_offset=-10)  # replaced by the newer runs
    result = evaluate.evaluate_experiment_predictions(pd.concat([older, preds]), method="target_sensitivity",
                                                      target=0.95, n_resamples=50)
    table = result["per_fold"]
    assert list(table["fold"]) == [1, 2, 3, 4] and list(table["run_id"]) == [1, 2, 3, 4]
    test = preds[preds.split == "test"]
    assert result["pooled"]["n"] == len(test)
    assert result["pooled"]["auc"] == pytest.approx(m.auc(test.label, test.probability))
    assert result["pooled"]["fn"] == table["fn"].sum()
    assert set(result["summary"]["metric"]) >= {"auc", "sensitivity", "fn_rate"}
    with pytest.raises(ValueError, match="no stored predictions"):
        evaluate.evaluate_experiment_predictions(preds.iloc[:0])


def test_compare_runs_matches_images():
    a = experiment_predictions(strength=2.0, folds=1)
    b = experiment_predictions(strength=0.3, folds=1, seed=5).iloc[::-1]  # order must not matter
    result = comparison.compare_runs(a, b)
    assert result["n_images"] == 30 and result["n_only_a"] == 0
    assert result["delong"]["difference"] > 0
    assert 0 <= result["mcnemar"]["p_value"] <= 1
    table = result["metrics"].set_index("metric")
    assert table.loc["auc", "a"] == pytest.approx(result["delong"]["auc_a"])
    with pytest.raises(ValueError, match="share no"):
        comparison.compare_runs(a, b.assign(sha256="x" + b.sha256, path="x" + b.path))
    with pytest.raises(ValueError, match="different labels"):
        comparison.compare_runs(a, b.assign(label=1 - b.label))


def test_compare_experiments_per_fold_tests():
    a = experiment_predictions(strength=2.0, seed=1)
    b = experiment_predictions(strength=0.5, seed=2)
    result = comparison.compare_experiments(a, b, method="youden")
    assert result["folds"] == [1, 2, 3, 4] and result["n_images"] == 120
    per_fold = result["per_fold"]
    assert len(per_fold) == 4 and (per_fold["auc_diff"] > 0).all()
    nb = result["fold_tests"]["auc"]["nadeau_bengio"]
    assert nb["k"] == 4 and 0 <= nb["p_value"] <= 1
    # k-fold layout estimate: 120 test images; a fold holds out its 30 test + 16 valid
    assert result["n_train"] == pytest.approx(120 - 46)
    assert result["fold_tests"]["auc"]["wilcoxon"]["p_value"] == pytest.approx(0.125)
    assert result["delong"]["p_value"] < 0.05
    same = comparison.compare_experiments(a, a)
    assert same["delong"]["p_value"] == 1.0
    assert same["fold_tests"]["auc"]["nadeau_bengio"]["p_value"] == 1.0


def test_evaluations_include_calibration():
    from glaucoma_core.evaluation.calibration import expected_calibration_error

    preds = experiment_predictions(folds=2)
    run = evaluate.evaluate_run_predictions(preds[preds.fold == 1], n_resamples=10)
    test = preds[(preds.fold == 1) & (preds.split == "test")]
    assert run["calibration"]["ece"] == pytest.approx(expected_calibration_error(test.label, test.probability))
    assert run["calibration"]["reliability"]["count"].sum() == len(test)
    exp = evaluate.evaluate_experiment_predictions(preds, n_resamples=10)
    assert exp["pooled_calibration"]["reliability"]["count"].sum() == (preds.split == "test").sum()
