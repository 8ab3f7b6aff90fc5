"""Compare two models (runs) or two experiments on the same images.

Images are matched by sha256 (by path when a side lacks hashes) within the same fold, so
two experiments over the same fold layout compare each image's out-of-fold predictions.
Each side's threshold is chosen on its own validation rows (same rule for both; 0.5 by
default). Reported:

* side-by-side metrics on the matched images;
* DeLong's paired test of the AUC difference and McNemar's exact test at each side's
  threshold, on all matched images (pooled over folds for experiments) and per fold;
* for experiments: per-fold differences (A - B) with the Nadeau-Bengio corrected resampled
  t-test and the Wilcoxon signed-rank test over folds.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from glaucoma_core.evaluation import cv_summary
from glaucoma_core.evaluation import metrics as m
from glaucoma_core.evaluation.evaluate import latest_run_per_fold
from glaucoma_core.evaluation.paired_tests import (
    delong_test,
    mcnemar_exact,
    nadeau_bengio_ttest,
    wilcoxon_signed_rank,
)

COMPARED_METRICS = ("auc", "accuracy", "sensitivity", "specificity", "f1", "balanced_accuracy",
                    "sens_at_spec85", "sens_at_spec95", "brier", "fn")
FOLD_TEST_METRICS = ("auc", "accuracy", "sensitivity", "specificity", "f1")


def _key_column(a: pd.DataFrame, b: pd.DataFrame) -> str:
    if "sha256" in a.columns and "sha256" in b.columns and a["sha256"].notna().all() and b["sha256"].notna().all():
        return "sha256"
    return "path"


def match_images(a: pd.DataFrame, b: pd.DataFrame, split: str = "test") -> pd.DataFrame:
    """Rows of ``split`` present in both A and B, one per (fold, image).

    Returns a DataFrame fold, key, label, probability_a, probability_b, threshold_a,
    threshold_b (thresholds copied from a 'threshold' column when present), path_a, path_b
    (when the rows have paths), with
    ``attrs`` n_only_a, n_only_b, key (the matching column).

    Raises ValueError when no image matches or the labels disagree.
    """
    key = _key_column(a, b)
    sides = []
    for frame in (a, b):
        rows = cv_summary.dedupe_per_fold(frame[frame["split"] == split]).copy()
        if "fold" not in rows.columns:
            rows["fold"] = 0
        rows["fold"] = rows["fold"].fillna(0).astype(int)
        if "threshold" not in rows.columns:
            rows["threshold"] = math.nan
        columns = ["fold", key, "label", "probability", "threshold"]
        if key != "path" and "path" in rows.columns:
            columns.append("path")
        sides.append(rows[columns])
    fold_insensitive = sides[0]["fold"].nunique() == 1 and sides[1]["fold"].nunique() == 1
    on = [key] if fold_insensitive else ["fold", key]
    merged = sides[0].merge(sides[1].drop(columns=["fold"]) if fold_insensitive else sides[1], on=on,
                            suffixes=("_a", "_b"))
    if merged.empty:
        raise ValueError(f"A and B share no {split} images (matched by {key}"
                         f"{'' if fold_insensitive else ' within each fold'})")
    if (merged["label_a"] != merged["label_b"]).any():
        bad = int((merged["label_a"] != merged["label_b"]).sum())
        raise ValueError(f"{bad} matched images have different labels in A and B: not the same dataset")
    merged = merged.rename(columns={"label_a": "label", key: "key"}).drop(columns=["label_b"])
    if key == "path":
        merged["path_a"] = merged["path_b"] = merged["key"]
    merged.attrs.update(n_only_a=len(sides[0]) - len(merged), n_only_b=len(sides[1]) - len(merged), key=key)
    return merged


def _side_by_side(labels, pa, pb, ta, tb) -> pd.DataFrame:
    ra, rb = m.classification_metrics(labels, pa, ta), m.classification_metrics(labels, pb, tb)
    rows = [{"metric": name, "a": ra[name], "b": rb[name], "difference": ra[name] - rb[name]}
            for name in COMPARED_METRICS]
    return pd.DataFrame(rows)


def _paired(labels, pa, pb, ta, tb) -> dict:
    return {"delong": delong_test(labels, pa, pb),
            "mcnemar": mcnemar_exact(labels, m.predict_labels(pa, ta), m.predict_labels(pb, tb))}


def compare_runs(a: pd.DataFrame, b: pd.DataFrame, *, method: str = "fixed", target: float | None = None,
                 split: str = "test") -> dict:
    """Compare two runs' predictions on the images they share.

    Returns dict split, n_images, n_only_a, n_only_b, thresholds {a, b} (ThresholdChoice
    dicts), metrics (DataFrame metric, a, b, difference), delong, mcnemar.
    """
    from glaucoma_core.evaluation.thresholds import threshold_from_predictions

    ca, cb = threshold_from_predictions(a, method, target), threshold_from_predictions(b, method, target)
    matched = match_images(a, b, split)
    y, pa, pb = matched["label"].to_numpy(), matched["probability_a"].to_numpy(), matched["probability_b"].to_numpy()
    return {"split": split, "n_images": len(matched), "n_only_a": matched.attrs["n_only_a"],
            "n_only_b": matched.attrs["n_only_b"], "thresholds": {"a": ca.to_dict(), "b": cb.to_dict()},
            "metrics": _side_by_side(y, pa, pb, ca.threshold, cb.threshold),
            **_paired(y, pa, pb, ca.threshold, cb.threshold),
            "images": _with_calls(matched.assign(threshold_a=ca.threshold, threshold_b=cb.threshold))}


def estimate_n_train(predictions: pd.DataFrame, split: str = "test") -> float:
    """Training images per fold in a k-fold layout: all images minus the fold's test and
    validation images (the mean over folds); used by the Nadeau-Bengio correction."""
    rows = cv_summary.dedupe_per_fold(predictions)
    key = "sha256" if "sha256" in rows.columns and rows["sha256"].notna().all() else "path"
    total = rows.loc[rows["split"] == split, key].nunique()
    per_fold = rows.groupby("fold")["split"].value_counts().unstack(fill_value=0)
    held_out = per_fold.get(split, 0) + per_fold.get("valid", 0)
    return float(np.mean(total - held_out))


def compare_experiments(a: pd.DataFrame, b: pd.DataFrame, *, method: str = "fixed",
                        target: float | None = None, split: str = "test",
                        n_train: float | None = None) -> dict:
    """Compare two experiments fold by fold on the images they share.

    Args:
        a, b: predictions of each experiment's runs (fold, split, sha256/path, label,
            probability; the newest run per fold is used).
        method, target: threshold rule, applied per fold on each side's own validation rows.
        split: rows compared.
        n_train: training images per fold for Nadeau-Bengio (default: estimated by
            :func:`estimate_n_train` from A's rows).

    Returns:
        dict split, n_images, n_only_a, n_only_b, folds (list), thresholds {a: {fold: ..},
        b: {...}}, metrics (pooled side by side, DataFrame), delong, mcnemar (pooled),
        per_fold (DataFrame fold, n, <metric>_a, <metric>_b, <metric>_diff, delong_p,
        mcnemar_p), fold_tests ({metric: {nadeau_bengio: ..., wilcoxon: ...}}), n_train,
        n_test.
    """
    a, b = latest_run_per_fold(a), latest_run_per_fold(b)
    choices_a = cv_summary.fold_thresholds(a, method, target)
    choices_b = cv_summary.fold_thresholds(b, method, target)
    common_folds = sorted(set(choices_a) & set(choices_b))
    if not common_folds:
        raise ValueError(f"A and B share no folds (A: {sorted(choices_a)}, B: {sorted(choices_b)})")
    a = a[a["fold"].isin(common_folds)].assign(threshold=lambda d: d["fold"].map(
        lambda f: choices_a[int(f)].threshold))
    b = b[b["fold"].isin(common_folds)].assign(threshold=lambda d: d["fold"].map(
        lambda f: choices_b[int(f)].threshold))
    matched = match_images(a, b, split)
    y, pa, pb = matched["label"].to_numpy(), matched["probability_a"].to_numpy(), matched["probability_b"].to_numpy()
    ta, tb = matched["threshold_a"].to_numpy(), matched["threshold_b"].to_numpy()
    fold_rows = []
    for fold, rows in matched.groupby("fold", sort=True):
        args = (rows["label"].to_numpy(), rows["probability_a"].to_numpy(), rows["probability_b"].to_numpy(),
                rows["threshold_a"].to_numpy(), rows["threshold_b"].to_numpy())
        ra, rb = m.classification_metrics(args[0], args[1], args[3]), m.classification_metrics(args[0], args[2], args[4])
        paired = _paired(*args)
        row = {"fold": int(fold), "n": len(rows)}
        for name in FOLD_TEST_METRICS:
            row[f"{name}_a"], row[f"{name}_b"], row[f"{name}_diff"] = ra[name], rb[name], ra[name] - rb[name]
        row["fn_a"], row["fn_b"] = ra["fn"], rb["fn"]
        row["delong_p"], row["mcnemar_p"] = paired["delong"]["p_value"], paired["mcnemar"]["p_value"]
        fold_rows.append(row)
    per_fold = pd.DataFrame(fold_rows)
    n_test = float(per_fold["n"].mean())
    n_train_used = float(n_train) if n_train is not None else estimate_n_train(a, split)
    fold_tests = {}
    for name in FOLD_TEST_METRICS:
        diffs = per_fold[f"{name}_diff"].to_numpy(dtype=float)
        fold_tests[name] = {
            "mean_difference": float(np.nanmean(diffs)) if np.isfinite(diffs).any() else math.nan,
            "nadeau_bengio": nadeau_bengio_ttest(diffs, n_train=max(n_train_used, 1.0), n_test=n_test),
            "wilcoxon": wilcoxon_signed_rank(diffs),
        }
    return {"split": split, "n_images": len(matched), "n_only_a": matched.attrs["n_only_a"],
            "n_only_b": matched.attrs["n_only_b"], "folds": common_folds,
            "thresholds": {"a": {f: c.to_dict() for f, c in choices_a.items() if f in common_folds},
                           "b": {f: c.to_dict() for f, c in choices_b.items() if f in common_folds}},
            "metrics": _side_by_side(y, pa, pb, ta, tb), **_paired(y, pa, pb, ta, tb),
            "per_fold": per_fold, "fold_tests": fold_tests, "n_train": n_train_used, "n_test": n_test,
            "images": _with_calls(matched)}


def _with_calls(matched: pd.DataFrame) -> pd.DataFrame:
    """The matched images with each side's call at its own threshold (call_a, call_b: 1 = glaucoma)
    and ``disagree``: the rows the comparison's McNemar test counts as discordant calls."""
    calls = matched.copy()
    calls["call_a"] = m.predict_labels(calls["probability_a"].to_numpy(), calls["threshold_a"].to_numpy())
    calls["call_b"] = m.predict_labels(calls["probability_b"].to_numpy(), calls["threshold_b"].to_numpy())
    calls["disagree"] = calls["call_a"] != calls["call_b"]
    return calls
