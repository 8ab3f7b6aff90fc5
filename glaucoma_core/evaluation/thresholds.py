"""Decision thresholds: chosen on validation predictions, applied to test.

The two steps take different arguments on purpose so they cannot be mixed up:

* :func:`choose_threshold` (``valid_labels, valid_probs, method, target``) only ever sees
  validation predictions;
* :func:`evaluate_at_threshold` (``test_labels, test_probs, threshold``) applies a number.

:func:`threshold_from_predictions` takes a predictions DataFrame with a ``split`` column and
always chooses from the ``'valid'`` rows; :func:`choose_and_apply` does both steps on one.

Candidate thresholds are the distinct validation probabilities (an image is called glaucoma
when ``probability >= threshold``), plus one just above the largest (nothing called glaucoma).
Rules:

* ``target_sensitivity``: the *highest* threshold whose validation sensitivity >= target
  (the most specific threshold that still finds that share of glaucoma);
* ``target_specificity``: the *lowest* threshold whose validation specificity >= target
  (the most sensitive threshold that keeps that specificity);
* ``youden``: maximises sensitivity + specificity - 1; ``max_f1``: maximises F1; ties go to
  the highest threshold;
* ``fixed``: ``target`` itself (default 0.5).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from glaucoma_core.evaluation import metrics as m

DEFAULT_THRESHOLD = 0.5
METHODS = ("fixed", "target_sensitivity", "target_specificity", "youden", "max_f1")


@dataclass(frozen=True)
class ThresholdChoice:
    """A threshold and how it was chosen.

    Attributes:
        threshold: call glaucoma when P(glaucoma) >= threshold.
        method: one of :data:`METHODS`.
        target: the target sensitivity/specificity (or the fixed value); NaN for youden/max_f1.
        valid_sensitivity, valid_specificity: what the threshold gives on validation
            (NaN for 'fixed' when no validation data was used).
        n_valid: number of validation predictions it was chosen on.
    """

    threshold: float
    method: str
    target: float = math.nan
    valid_sensitivity: float = math.nan
    valid_specificity: float = math.nan
    n_valid: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


def threshold_sweep(labels, probabilities, thresholds=None) -> pd.DataFrame:
    """Counts and rates at each threshold.

    Args:
        labels, probabilities: predictions (1 = glaucoma).
        thresholds: thresholds to evaluate; default: the distinct probabilities plus one
            above the largest (the candidates :func:`choose_threshold` uses).

    Returns:
        DataFrame sorted by descending threshold with columns threshold, tp, fp, tn, fn,
        sensitivity, specificity, precision, f1, youden (NaN where undefined).
    """
    y, p = m.check_inputs(labels, probabilities)
    if thresholds is None:
        thresholds = candidate_thresholds(p)
    t = np.sort(np.asarray(thresholds, dtype=np.float64))[::-1]
    called = p[None, :] >= t[:, None]
    pos = y[None, :] == 1
    tp = np.sum(called & pos, axis=1)
    fp = np.sum(called & ~pos, axis=1)
    fn = np.sum(~called & pos, axis=1)
    tn = np.sum(~called & ~pos, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        sens = np.where(tp + fn > 0, tp / (tp + fn), np.nan)
        spec = np.where(tn + fp > 0, tn / (tn + fp), np.nan)
        prec = np.where(tp + fp > 0, tp / (tp + fp), np.nan)
        f1 = np.where(2 * tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), np.nan)
    return pd.DataFrame({"threshold": t, "tp": tp, "fp": fp, "tn": tn, "fn": fn, "sensitivity": sens,
                         "specificity": spec, "precision": prec, "f1": f1, "youden": sens + spec - 1})


def candidate_thresholds(probabilities) -> np.ndarray:
    """Distinct probabilities plus the next float above the largest (calls nothing glaucoma)."""
    p = np.unique(np.asarray(probabilities, dtype=np.float64))
    return np.r_[p, np.nextafter(p[-1], np.inf)]


def choose_threshold(valid_labels, valid_probs, method: str = "fixed", target: float | None = None) -> ThresholdChoice:
    """Choose a threshold from **validation** predictions.

    Args:
        valid_labels: 0/1 per validation image.
        valid_probs: P(glaucoma) per validation image.
        method: 'fixed' (target or 0.5), 'target_sensitivity', 'target_specificity',
            'youden' or 'max_f1'.
        target: required for the two target methods (in (0, 1]); the value for 'fixed'.

    Raises:
        ValueError: unknown method, missing/out-of-range target, or validation data lacking
            the class the method needs.
    """
    if method not in METHODS:
        raise ValueError(f"unknown threshold method {method!r}; choose one of {', '.join(METHODS)}")
    if method == "fixed":
        value = DEFAULT_THRESHOLD if target is None else float(target)
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"threshold must be in [0, 1], got {value}")
        return ThresholdChoice(value, "fixed", value)
    if method in ("target_sensitivity", "target_specificity"):
        if target is None or not 0.0 < float(target) <= 1.0:
            raise ValueError(f"{method} needs a target in (0, 1], got {target}")
    y, p = m.check_inputs(valid_labels, valid_probs, probabilities=True)
    needs = {"target_sensitivity": (1,), "target_specificity": (0,), "youden": (0, 1), "max_f1": (1,)}[method]
    for cls in needs:
        if not np.any(y == cls):
            name = "glaucoma" if cls == 1 else "normal"
            raise ValueError(f"cannot choose a threshold by {method}: the validation predictions have no {name} images")
    sweep = threshold_sweep(y, p)  # descending thresholds
    if method == "target_sensitivity":
        row = sweep[sweep["sensitivity"] >= float(target) - 1e-12].iloc[0]  # highest reaching it
    elif method == "target_specificity":
        row = sweep[sweep["specificity"] >= float(target) - 1e-12].iloc[-1]  # lowest reaching it
    else:
        column = "youden" if method == "youden" else "f1"
        row = sweep.iloc[int(np.nanargmax(sweep[column].to_numpy()))]  # first = highest threshold
    return ThresholdChoice(
        threshold=float(row["threshold"]),
        method=method,
        target=math.nan if target is None or method in ("youden", "max_f1") else float(target),
        valid_sensitivity=float(row["sensitivity"]),
        valid_specificity=float(row["specificity"]),
        n_valid=int(y.size),
    )


def evaluate_at_threshold(test_labels, test_probs, threshold: float) -> dict:
    """All metrics of the **test** predictions at a threshold chosen elsewhere (see
    :func:`glaucoma_core.evaluation.metrics.classification_metrics`)."""
    return m.classification_metrics(test_labels, test_probs, threshold)


def _split_rows(predictions: pd.DataFrame, split: str) -> pd.DataFrame:
    missing = {"split", "label", "probability"} - set(predictions.columns)
    if missing:
        raise ValueError(f"predictions lack column(s) {', '.join(sorted(missing))}")
    return predictions[predictions["split"] == split]


def threshold_from_predictions(predictions: pd.DataFrame, method: str = "fixed",
                               target: float | None = None) -> ThresholdChoice:
    """Choose a threshold from the ``split == 'valid'`` rows of a predictions DataFrame
    (columns split, label, probability). Test rows are never looked at."""
    if method == "fixed":
        return choose_threshold([], [], "fixed", target)
    valid = _split_rows(predictions, "valid")
    if valid.empty:
        raise ValueError(f"cannot choose a threshold by {method}: there are no validation predictions")
    return choose_threshold(valid["label"].to_numpy(), valid["probability"].to_numpy(), method, target)


def choose_and_apply(predictions: pd.DataFrame, method: str = "fixed", target: float | None = None,
                     *, split: str = "test") -> dict:
    """Choose on 'valid', evaluate on ``split`` (default 'test').

    Returns ``{"choice": ThresholdChoice.to_dict(), "metrics": classification_metrics(...)}``.
    """
    if split == "valid" and method != "fixed":
        raise ValueError("a threshold chosen on validation predictions cannot be evaluated on them too; "
                         "use split='test'")
    choice = threshold_from_predictions(predictions, method, target)
    rows = _split_rows(predictions, split)
    if rows.empty:
        raise ValueError(f"there are no {split} predictions to evaluate")
    result = evaluate_at_threshold(rows["label"].to_numpy(), rows["probability"].to_numpy(), choice.threshold)
    return {"choice": choice.to_dict(), "metrics": result}
