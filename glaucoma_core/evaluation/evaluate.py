"""Evaluate stored predictions: one run, or an experiment (one run per fold).

Pure functions of prediction DataFrames (as ``RunStore.predictions`` returns them: run_id,
fold, split, path, sha256, label, probability); the CLI and the pages fetch the rows and call
these. The threshold is always chosen on the ``valid`` rows (per fold for an experiment) and
the metrics are computed on ``split`` (default ``test``).
"""

from __future__ import annotations

import pandas as pd

from glaucoma_core.evaluation import cv_summary
from glaucoma_core.evaluation.calibration import expected_calibration_error, reliability_curve
from glaucoma_core.evaluation.intervals import metric_intervals
from glaucoma_core.evaluation.report import classification_report_text
from glaucoma_core.evaluation.thresholds import threshold_from_predictions


def latest_run_per_fold(predictions: pd.DataFrame) -> pd.DataFrame:
    """Keep, for each fold, only the rows of its highest run_id (a re-run replaces older ones)."""
    if "run_id" not in predictions.columns or predictions.empty:
        return predictions
    folds = predictions["fold"].fillna(-1)
    newest = predictions.groupby(folds)["run_id"].transform("max")
    return predictions[predictions["run_id"] == newest]


def evaluate_run_predictions(predictions: pd.DataFrame, *, method: str = "fixed", target: float | None = None,
                             split: str = "test", n_resamples: int = 1000, seed: int = 0) -> dict:
    """Metrics with 95 % intervals of one run.

    Args:
        predictions: the run's rows (both 'valid' and ``split`` when a threshold is chosen).
        method, target: threshold rule (see ``thresholds.choose_threshold``); default 0.5.
        split: rows to evaluate.
        n_resamples, seed: bootstrap settings (AUC uses DeLong).

    Returns:
        dict split, threshold (ThresholdChoice dict), metrics (classification_metrics dict),
        intervals ({metric: Interval dict}), report (text, sklearn layout), calibration
        ({ece, reliability: DataFrame}, 10 equal-width bins).
    """
    choice = threshold_from_predictions(predictions, method, target)
    rows = cv_summary.dedupe_per_fold(predictions[predictions["split"] == split])
    if rows.empty:
        raise ValueError(f"there are no {split} predictions")
    from glaucoma_core.evaluation.metrics import classification_metrics

    labels, probs = rows["label"].to_numpy(), rows["probability"].to_numpy()
    metrics = classification_metrics(labels, probs, choice.threshold)
    intervals = metric_intervals(labels, probs, choice.threshold, n_resamples=n_resamples, seed=seed)
    return {"split": split, "threshold": choice.to_dict(), "metrics": metrics,
            "intervals": {name: iv.to_dict() for name, iv in intervals.items()},
            "report": classification_report_text(labels, probs, choice.threshold),
            "calibration": _calibration(labels, probs)}


def _calibration(labels, probs, n_bins: int = 10) -> dict:
    return {"ece": expected_calibration_error(labels, probs, n_bins),
            "reliability": reliability_curve(labels, probs, n_bins)}


def evaluate_experiment_predictions(predictions: pd.DataFrame, *, method: str = "fixed",
                                    target: float | None = None, split: str = "test",
                                    n_resamples: int = 1000, seed: int = 0) -> dict:
    """Per-fold, summary and pooled metrics of an experiment.

    Args:
        predictions: rows of the experiment's runs (column fold required; the newest run per
            fold is used).
        method, target: threshold rule, applied per fold on that fold's validation rows.
        split: rows to evaluate.
        n_resamples, seed: bootstrap settings for the pooled intervals.

    Returns:
        dict split, thresholds ({fold: ThresholdChoice dict}), per_fold (DataFrame, one row per
        fold: metrics, tp/fp/tn/fn, fn_rate, threshold, run_id), summary (DataFrame: metric,
        mean, sd, ci_low, ci_high, n_folds), pooled (metrics dict), pooled_intervals,
        pooled_calibration ({ece, reliability}), images_in_several_folds.
    """
    if predictions.empty:
        raise ValueError("the experiment has no stored predictions")
    if predictions["fold"].isna().any():
        raise ValueError("some predictions have no fold; evaluate those runs one by one")
    rows = latest_run_per_fold(predictions)
    report = cv_summary.cv_report(rows, method, target, split)
    table = report["per_fold"]
    if "run_id" in rows.columns:
        run_of_fold = rows.groupby("fold")["run_id"].max()
        table.insert(1, "run_id", [int(run_of_fold.loc[f]) for f in table["fold"]])
    pooled_rows = cv_summary.pooled_predictions(rows, {f: c["threshold"] for f, c in report["thresholds"].items()},
                                                split)
    intervals = metric_intervals(pooled_rows["label"].to_numpy(), pooled_rows["probability"].to_numpy(),
                                 pooled_rows["threshold"].to_numpy(), n_resamples=n_resamples, seed=seed)
    return {"split": split, "thresholds": report["thresholds"], "per_fold": table, "summary": report["summary"],
            "pooled": report["pooled"], "pooled_intervals": {k: v.to_dict() for k, v in intervals.items()},
            "pooled_calibration": _calibration(pooled_rows["label"].to_numpy(), pooled_rows["probability"].to_numpy()),
            "images_in_several_folds": report["pooled"]["images_in_several_folds"]}
