"""Thresholds chosen on validation, applied to test."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from glaucoma_core.evaluation import thresholds as th

LABELS = [1, 1, 1, 1, 0, 0, 0, 0, 0]
PROBS = [0.9, 0.8, 0.6, 0.3, 0.7, 0.4, 0.2, 0.1, 0.05]


def test_target_sensitivity_is_highest_threshold_reaching_it():
    choice = th.choose_threshold(LABELS, PROBS, "target_sensitivity", 0.75)
    assert choice.threshold == pytest.approx(0.6)  # 0.9, 0.8, 0.6 called -> 3/4
    assert choice.valid_sensitivity == pytest.approx(0.75)
    assert choice.valid_specificity == pytest.approx(0.8)  # 0.7 is a false positive
    full = th.choose_threshold(LABELS, PROBS, "target_sensitivity", 1.0)
    assert full.threshold == pytest.approx(0.3)


def test_target_specificity_is_lowest_threshold_reaching_it():
    choice = th.choose_threshold(LABELS, PROBS, "target_specificity", 1.0)
    assert choice.threshold == pytest.approx(0.8)  # just above the normal at 0.7 -> next candidate is 0.8
    assert choice.valid_specificity == 1.0 and choice.valid_sensitivity == pytest.approx(0.5)
    choice = th.choose_threshold(LABELS, PROBS, "target_specificity", 0.8)
    assert choice.threshold == pytest.approx(0.6)


def test_youden_and_max_f1_match_brute_force():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 100)
    p = np.clip(rng.normal(0.4 + 0.2 * y, 0.2), 0, 1)
    best_j, best_f1 = -1, -1
    for t in sorted(set(p), reverse=True):
        pred = p >= t
        tp, fp = np.sum(pred & (y == 1)), np.sum(pred & (y == 0))
        fn, tn = np.sum(~pred & (y == 1)), np.sum(~pred & (y == 0))
        j = tp / (tp + fn) + tn / (tn + fp) - 1
        f1 = 2 * tp / (2 * tp + fp + fn)
        if j > best_j + 1e-12:
            best_j, t_j = j, t
        if f1 > best_f1 + 1e-12:
            best_f1, t_f1 = f1, t
    assert th.choose_threshold(y, p, "youden").threshold == pytest.approx(t_j)
    assert th.choose_threshold(y, p, "max_f1").threshold == pytest.approx(t_f1)


def test_fixed_default_and_errors():
    assert th.choose_threshold([], [], "fixed").threshold == 0.5
    assert th.choose_threshold([], [], "fixed", 0.3).threshold == 0.3
    with pytest.raises(ValueError, match="unknown threshold method"):
        th.choose_threshold(LABELS, PROBS, "best")
    with pytest.raises(ValueError, match="needs a target"):
        th.choose_threshold(LABELS, PROBS, "target_sensitivity")
    with pytest.raises(ValueError, match="no glaucoma"):
        th.choose_threshold([0, 0], [0.1, 0.2], "target_sensitivity", 0.9)
    with pytest.raises(ValueError, match="empty"):
        th.choose_threshold([], [], "youden")


def test_threshold_sweep_counts():
    sweep = th.threshold_sweep(LABELS, PROBS, [0.5])
    row = sweep.iloc[0]
    assert (row.tp, row.fp, row.tn, row.fn) == (3, 1, 4, 1)
    full = th.threshold_sweep(LABELS, PROBS)
    assert full["threshold"].is_monotonic_decreasing
    assert full.iloc[0]["tp"] == 0 and full.iloc[-1]["fn"] == 0


def test_predictions_frame_chooses_on_valid_only():
    valid = pd.DataFrame({"split": "valid", "label": LABELS, "probability": PROBS})
    # test rows would give a very different threshold: must be ignored
    test = pd.DataFrame({"split": "test", "label": [1, 1, 0, 0], "probability": [0.99, 0.98, 0.97, 0.01]})
    frame = pd.concat([test, valid], ignore_index=True)
    choice = th.threshold_from_predictions(frame, "target_sensitivity", 0.75)
    assert choice.threshold == pytest.approx(0.6) and choice.n_valid == len(LABELS)
    applied = th.choose_and_apply(frame, "target_sensitivity", 0.75)
    assert applied["metrics"]["tp"] == 2 and applied["metrics"]["fp"] == 1
    with pytest.raises(ValueError, match="no validation predictions"):
        th.threshold_from_predictions(test, "youden")
    with pytest.raises(ValueError, match="cannot be evaluated on them"):
        th.choose_and_apply(frame, "youden", split="valid")
