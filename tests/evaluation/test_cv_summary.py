"""Cross-validation summaries over a small synthetic two-fold experiment."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from glaucoma_core.evaluation import cv_summary as cv
from glaucoma_core.evaluation import metrics as m


def _predictions(seed=0, folds=3, n_test=20, n_valid=12):
    rng = np.random.default_rng(seed)
    rows = []
    for fold in range(1, folds + 1):
        for split, n in (("valid", n_valid), ("test", n_test)):
            y = np.tile([0, 1], n // 2)
            p = np.clip(rng.normal(0.35 + 0.3 * y, 0.2), 0, 1)
            for i in range(n):
                rows.append({"fold": fold, "split": split, "sha256": f"{split}{fold}-{i}",
                             "path": f"/d/fold_{fold}/{split}/{i}.png", "label": int(y[i]),
                             "probability": float(p[i])})
    return pd.DataFrame(rows)


def test_per_fold_table_and_summary():
    preds = _predictions()
    table = cv.per_fold_table(preds)
    assert list(table["fold"]) == [1, 2, 3]
    for _, row in table.iterrows():
        rows = preds[(preds.fold == row.fold) & (preds.split == "test")]
        expected = m.classification_metrics(rows.label, rows.probability)
        assert row.auc == pytest.approx(expected["auc"])
        assert row.fn == expected["fn"]
        assert row.fn_rate == pytest.approx(row.fn / (row.tp + row.fn))
    summary = cv.summarize_folds(table).set_index("metric")
    assert summary.loc["auc", "mean"] == pytest.approx(table.auc.mean())
    assert summary.loc["auc", "sd"] == pytest.approx(table.auc.std(ddof=1))
    assert summary.loc["auc", "ci_low"] < summary.loc["auc", "mean"] < summary.loc["auc", "ci_high"]


def test_pooled_is_all_test_rows_and_dedupes_within_fold():
    preds = _predictions()
    duplicate = preds[(preds.fold == 1) & (preds.split == "test")].iloc[[0]]
    pooled = cv.pooled_metrics(pd.concat([preds, duplicate]))
    test = preds[preds.split == "test"]
    assert pooled["n"] == len(test)
    assert pooled["auc"] == pytest.approx(m.auc(test.label, test.probability))
    assert pooled["images_in_several_folds"] == 0


def test_cv_report_uses_each_folds_valid_threshold():
    preds = _predictions(1)
    report = cv.cv_report(preds, "target_sensitivity", 0.9)
    for fold, choice in report["thresholds"].items():
        valid = preds[(preds.fold == fold) & (preds.split == "valid")]
        called = valid.probability >= choice["threshold"]
        assert (called & (valid.label == 1)).sum() / (valid.label == 1).sum() >= 0.9
        assert report["per_fold"].set_index("fold").loc[fold, "threshold"] == choice["threshold"]
    pooled_fn = report["per_fold"]["fn"].sum()
    assert report["pooled"]["fn"] == pooled_fn
    assert math.isnan(report["pooled"]["threshold"])


def test_missing_columns_and_empty_split():
    with pytest.raises(ValueError, match="lack column"):
        cv.per_fold_table(pd.DataFrame({"fold": [1]}))
    preds = _predictions()
    with pytest.raises(ValueError, match="no train predictions"):
        cv.per_fold_table(preds, split="train")
    with pytest.raises(ValueError, match="fold 1"):
        cv.fold_thresholds(preds[~((preds.fold == 1) & (preds.split == "valid"))], "youden")


def test_summary_interval_is_clipped_to_unit_range():
    table = pd.DataFrame({"fold": [1, 2, 3], "sensitivity": [0.1, 0.9, 0.95]})
    row = cv.summarize_folds(table, ["sensitivity"]).iloc[0]
    assert row["ci_low"] == 0.0 and row["ci_high"] == 1.0 and row["mean"] == pytest.approx(0.65)
