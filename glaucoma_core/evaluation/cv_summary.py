"""Cross-validation summaries: per-fold table, mean +- sd with t-interval, pooled out-of-fold.

Input is a predictions DataFrame as the run store returns it: columns fold, split, sha256,
label, probability (path, run_id optional). Each fold's test images were predicted by that
fold's model, which never saw them, so pooling the test rows of all folds gives every image
one out-of-fold prediction.

Thresholds: a number for all folds, or a dict ``{fold: threshold}`` (e.g. each fold's own
threshold chosen on its own validation predictions, see :func:`fold_thresholds`). Pooled
threshold metrics apply each fold's threshold to that fold's images.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd

from glaucoma_core.evaluation import metrics as m
from glaucoma_core.evaluation.intervals import t_interval
from glaucoma_core.evaluation.thresholds import ThresholdChoice, threshold_from_predictions

FOLD_COLUMNS = ("fold", "n", "n_glaucoma", "threshold", "accuracy", "auc", "sensitivity", "specificity", "f1",
                "precision", "balanced_accuracy", "sens_at_spec85", "sens_at_spec95", "tp", "fp", "tn", "fn",
                "fn_rate")
SUMMARY_METRICS = ("accuracy", "auc", "sensitivity", "specificity", "f1", "precision", "balanced_accuracy",
                   "sens_at_spec85", "sens_at_spec95", "fn_rate")


def _check_columns(predictions: pd.DataFrame, needed=("fold", "split", "label", "probability")) -> None:
    missing = set(needed) - set(predictions.columns)
    if missing:
        raise ValueError(f"predictions lack column(s) {', '.join(sorted(missing))}")


def dedupe_per_fold(predictions: pd.DataFrame) -> pd.DataFrame:
    """Drop repeated images (same sha256) within each fold and split, keeping the first.

    Without a sha256 column, the path is used; without either, nothing is dropped.
    """
    key = "sha256" if "sha256" in predictions.columns else "path" if "path" in predictions.columns else None
    if key is None or predictions.empty:
        return predictions
    subset = [c for c in ("fold", "split") if c in predictions.columns] + [key]
    return predictions.drop_duplicates(subset=subset, keep="first")


def fold_thresholds(predictions: pd.DataFrame, method: str = "fixed", target: float | None = None
                    ) -> dict[int, ThresholdChoice]:
    """Each fold's threshold, chosen on that fold's own validation rows (never test)."""
    _check_columns(predictions)
    choices = {}
    for fold, rows in predictions.groupby("fold", sort=True):
        try:
            choices[int(fold)] = threshold_from_predictions(rows, method, target)
        except ValueError as exc:
            raise ValueError(f"fold {int(fold)}: {exc}") from None
    return choices


def _threshold_of(fold: int, thresholds) -> float:
    if isinstance(thresholds, Mapping):
        value = thresholds[fold]
        return float(value.threshold if isinstance(value, ThresholdChoice) else value)
    return float(thresholds)


def per_fold_table(predictions: pd.DataFrame, thresholds=0.5, split: str = "test") -> pd.DataFrame:
    """One row per fold with the columns of :data:`FOLD_COLUMNS` (fn_rate = FN / (TP + FN)).

    Undefined metrics are NaN; their reasons are in ``table.attrs['undefined']`` ({fold: {...}}).
    """
    _check_columns(predictions)
    rows = dedupe_per_fold(predictions[predictions["split"] == split])
    if rows.empty:
        raise ValueError(f"there are no {split} predictions")
    out, undefined = [], {}
    for fold, group in rows.groupby("fold", sort=True):
        fold = int(fold)
        result = m.classification_metrics(group["label"].to_numpy(), group["probability"].to_numpy(),
                                          _threshold_of(fold, thresholds))
        out.append({"fold": fold, **{c: result[c] for c in FOLD_COLUMNS if c != "fold"}})
        if result["undefined"]:
            undefined[fold] = result["undefined"]
    table = pd.DataFrame(out, columns=list(FOLD_COLUMNS))
    table.attrs["undefined"] = undefined
    return table


def summarize_folds(table: pd.DataFrame, metrics=SUMMARY_METRICS, confidence: float = 0.95) -> pd.DataFrame:
    """Mean, sd and t-interval over folds of each metric column present in ``table``.

    The interval of a metric bounded by [0, 1] (all of :data:`SUMMARY_METRICS`) is clipped to
    [0, 1]; with few folds and a large spread the t-interval would otherwise leave that range.

    Returns a DataFrame: metric, mean, sd, ci_low, ci_high, n_folds, note.
    """
    rows = []
    for name in metrics:
        if name not in table.columns:
            continue
        values = table[name].to_numpy(dtype=np.float64)
        ok = values[np.isfinite(values)]
        interval = t_interval(ok, confidence)
        rows.append({"metric": name, "mean": interval.estimate,
                     "sd": float(ok.std(ddof=1)) if ok.size > 1 else math.nan,
                     "ci_low": _clip(interval.low, name), "ci_high": _clip(interval.high, name), "n_folds": int(ok.size),
                     "note": interval.note})
    return pd.DataFrame(rows, columns=["metric", "mean", "sd", "ci_low", "ci_high", "n_folds", "note"])


def _clip(value: float, metric: str) -> float:
    if metric in SUMMARY_METRICS and not math.isnan(value):
        return min(1.0, max(0.0, value))
    return value


def pooled_predictions(predictions: pd.DataFrame, thresholds=0.5, split: str = "test") -> pd.DataFrame:
    """The ``split`` rows of all folds, deduplicated per fold, with a ``threshold`` column.

    ``attrs['images_in_several_folds']`` counts images (sha256) appearing in more than one
    fold's test set (a leak in the fold layout; they are kept, once per fold).
    """
    _check_columns(predictions)
    rows = dedupe_per_fold(predictions[predictions["split"] == split]).copy()
    if rows.empty:
        raise ValueError(f"there are no {split} predictions")
    rows["threshold"] = [_threshold_of(int(f), thresholds) for f in rows["fold"]]
    repeated = 0
    if "sha256" in rows.columns:
        per_image = rows.groupby("sha256")["fold"].nunique()
        repeated = int((per_image > 1).sum())
    rows.attrs["images_in_several_folds"] = repeated
    return rows


def pooled_metrics(predictions: pd.DataFrame, thresholds=0.5, split: str = "test") -> dict:
    """Metrics of all folds' out-of-fold predictions together (each fold's own threshold)."""
    rows = pooled_predictions(predictions, thresholds, split)
    result = m.classification_metrics(rows["label"].to_numpy(), rows["probability"].to_numpy(),
                                      rows["threshold"].to_numpy())
    result["images_in_several_folds"] = rows.attrs["images_in_several_folds"]
    return result


def cv_report(predictions: pd.DataFrame, method: str = "fixed", target: float | None = None,
              split: str = "test") -> dict:
    """Everything the cross-validation view shows.

    Args:
        predictions: rows of all folds (fold, split, label, probability, sha256...).
        method, target: threshold rule applied per fold on its validation rows
            (see :func:`glaucoma_core.evaluation.thresholds.choose_threshold`); default 0.5.
        split: rows to evaluate (default 'test').

    Returns:
        dict thresholds ({fold: ThresholdChoice dict}), per_fold (DataFrame), summary
        (DataFrame), pooled (dict of metrics).
    """
    choices = fold_thresholds(predictions, method, target)
    table = per_fold_table(predictions, choices, split)
    return {"thresholds": {fold: c.to_dict() for fold, c in choices.items()}, "per_fold": table,
            "summary": summarize_folds(table), "pooled": pooled_metrics(predictions, choices, split)}
