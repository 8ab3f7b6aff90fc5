"""The selection rule of a study: how trials are ranked, from validation predictions only.

A study chooses its configuration on the folds' **validation** images and never on their test
images: :meth:`SelectionRule.fold_scores` drops every row whose split is not ``valid`` before
it computes anything, and the study runner only ever asks the store for validation rows when it
ranks trials. The test images stay untouched until the chosen configuration's estimate is
reported.

Metrics are threshold-free, so ranking needs no threshold (itself a choice): ``auc`` (the
area under the ROC curve), ``sens_at_spec95`` / ``sens_at_spec85`` (sensitivity where
specificity is 0.95 / 0.85, AIROGS and REFUGE's operating points) and ``average_precision``.
A trial's score is the mean of its folds' scores.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from glaucoma_core.errors import UserError

SELECTION_SPLIT = "valid"
RULE_METRICS = {
    "auc": "mean validation AUC over folds",
    "sens_at_spec95": "mean validation sensitivity at 95 % specificity over folds",
    "sens_at_spec85": "mean validation sensitivity at 85 % specificity over folds",
    "average_precision": "mean validation average precision over folds",
}

METRIC_LABELS = {  # short names for column headers and chart axes
    "auc": "AUC",
    "sens_at_spec95": "sensitivity at 95 % spec.",
    "sens_at_spec85": "sensitivity at 85 % spec.",
    "average_precision": "average precision",
}


def metric_of(name: str, labels, probabilities) -> float:
    """One threshold-free metric of one fold's images (NaN when undefined, e.g. one class)."""
    from glaucoma_core.evaluation import metrics as m

    try:
        if name == "auc":
            return float(m.auc(labels, probabilities))
        if name == "sens_at_spec95":
            return float(m.sensitivity_at_specificity(labels, probabilities, 0.95))
        if name == "sens_at_spec85":
            return float(m.sensitivity_at_specificity(labels, probabilities, 0.85))
        if name == "average_precision":
            return float(m.average_precision(labels, probabilities))
    except (ValueError, m.UndefinedMetricError):
        return math.nan
    raise UserError(f"unknown selection metric {name!r}; choose one of {', '.join(RULE_METRICS)}")


def per_fold(predictions: pd.DataFrame, metric: str, split: str) -> dict[int, float]:
    """``{fold: metric}`` of the ``split`` rows of one experiment's predictions (the newest run
    of each fold; an image counted once per fold)."""
    from glaucoma_core.evaluation.cv_summary import dedupe_per_fold
    from glaucoma_core.evaluation.evaluate import latest_run_per_fold

    if predictions.empty:
        return {}
    rows = predictions[predictions["split"] == split]
    rows = dedupe_per_fold(latest_run_per_fold(rows))
    return {int(fold): metric_of(metric, part["label"].to_numpy(int), part["probability"].to_numpy(float))
            for fold, part in rows.groupby("fold", sort=True)}


@dataclass(frozen=True)
class SelectionRule:
    """How a study ranks its trials (higher is better).

    Attributes:
        metric: one of :data:`RULE_METRICS`.
    """

    metric: str = "auc"

    def __post_init__(self):
        if self.metric not in RULE_METRICS:
            raise UserError(f"unknown selection metric {self.metric!r}; choose one of {', '.join(RULE_METRICS)}")

    @property
    def split(self) -> str:
        return SELECTION_SPLIT

    def fold_scores(self, predictions: pd.DataFrame) -> dict[int, float]:
        """``{fold: score}`` from the **validation** rows of ``predictions`` (others are dropped
        first, so test labels cannot change the result)."""
        return per_fold(predictions, self.metric, SELECTION_SPLIT)

    def score(self, fold_scores: dict[int, float]) -> float:
        """A trial's score: the mean of its finite fold scores (NaN when it has none)."""
        values = np.array([v for v in fold_scores.values() if math.isfinite(v)], dtype=float)
        return float(values.mean()) if values.size else math.nan

    def describe(self) -> str:
        return RULE_METRICS[self.metric] + " (validation images only; test images never read)"

    def to_dict(self) -> dict:
        return {"metric": self.metric, "split": SELECTION_SPLIT, "text": self.describe()}


def choose(scores: dict[int, float]) -> int | None:
    """The trial with the highest finite score (the lowest trial id among ties); None if none."""
    finite = {k: v for k, v in scores.items() if v is not None and math.isfinite(v)}
    if not finite:
        return None
    best = max(finite.values())
    return min(k for k, v in finite.items() if v == best)
