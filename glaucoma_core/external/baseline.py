"""The metadata baseline: what image size, file size and global colour alone reach on the same folds.

A network that scores AUC 0.95 on a database where the image width alone gives 0.87 may have
learnt little about the eye. :func:`metadata_baseline` trains a logistic regression on the
standardised :data:`~glaucoma_core.external.properties.METADATA_FEATURES` of each fold's
training images, scores that fold's test images, and pools the test scores (every image is a
test image of exactly one fold, so the pooled AUC is an out-of-fold figure like the
experiment's). :func:`compare_with_baseline` says whether the experiment clearly beats it.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from glaucoma_core.data.shortcuts import shortcut_report
from glaucoma_core.evaluation.intervals import auc_interval
from glaucoma_core.evaluation.metrics import UndefinedMetricError, auc
from glaucoma_core.external.properties import METADATA_FEATURES, PROPERTIES

#: An experiment whose AUC is not at least this much above the baseline's is flagged.
BEAT_MARGIN = 0.05
#: A baseline AUC at or above this is a shortcut worth removing.
SHORTCUT_AUC = 0.75
#: Properties that a resolution normalisation makes useless to the network.
SIZE_PROPERTIES = ("width", "height", "megapixels", "kilobytes", "bytes_per_pixel", "sharpness")
NORMALISATION_FIELD = "resolution_normalisation"


def _fit_predict(train: pd.DataFrame, test: pd.DataFrame, columns: list[str]) -> np.ndarray:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x_train = train[columns].astype(float)
    fill = x_train.median()
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    model.fit(x_train.fillna(fill).to_numpy(), train["label"].to_numpy(int))
    return model.predict_proba(test[columns].astype(float).fillna(fill).to_numpy())[:, 1]


def metadata_baseline(index: pd.DataFrame, properties: pd.DataFrame, folds, *,
                      features=METADATA_FEATURES) -> dict:
    """Out-of-fold AUC of a metadata-only classifier on the folds of an experiment.

    Args:
        index: the dataset index (columns fold, split, sha256, label, problem).
        properties: :func:`~glaucoma_core.external.properties.image_properties` of its images
            (joined on sha256).
        folds: the experiment's folds; each trains on its ``train`` split and scores ``test``.
        features: the property columns the classifier may use.

    Returns {auc, auc_ci95 ([low, high], DeLong), n_test, per_fold: [{fold, auc, n_train, n_test}],
    features, single: the AUC of each property alone on the pooled test images (DataFrame of
    :func:`glaucoma_core.data.shortcuts.shortcut_report`), predictions: DataFrame (fold, sha256,
    label, probability)}. Raises ValueError when no fold can be scored.
    """
    columns = [c for c in features if c in properties.columns]
    by_sha = properties.drop_duplicates("sha256").set_index("sha256")[columns]
    rows = index[(index["problem"] == "") & index["fold"].notna()]
    rows = rows.drop_duplicates(["fold", "split", "sha256"])[["fold", "split", "sha256", "label"]]
    rows = rows.join(by_sha, on="sha256", how="inner")
    per_fold, pooled = [], []
    for fold in folds:
        part = rows[rows["fold"] == fold]
        train, test = part[part["split"] == "train"], part[part["split"] == "test"]
        entry = {"fold": int(fold), "auc": math.nan, "n_train": len(train), "n_test": len(test), "note": ""}
        if train["label"].nunique() < 2 or test.empty:
            entry["note"] = "needs training images of both classes and test images"
            per_fold.append(entry)
            continue
        probability = _fit_predict(train, test, columns)
        try:
            entry["auc"] = auc(test["label"].to_numpy(int), probability)
        except UndefinedMetricError as exc:
            entry["note"] = str(exc)
        per_fold.append(entry)
        pooled.append(pd.DataFrame({"fold": int(fold), "sha256": test["sha256"].to_numpy(),
                                    "label": test["label"].to_numpy(int), "probability": probability}))
    if not pooled:
        raise ValueError("no fold has training images of both classes and test images for the metadata baseline")
    predictions = pd.concat(pooled, ignore_index=True)
    interval = auc_interval(predictions["label"], predictions["probability"])
    tested = rows[rows["split"] == "test"].drop_duplicates("sha256")
    single = shortcut_report(tested, {c: PROPERTIES[c] for c in columns})
    return {"auc": interval.estimate, "auc_ci95": [interval.low, interval.high], "n_test": len(predictions),
            "per_fold": per_fold, "features": columns, "single": single, "predictions": predictions}


def compare_with_baseline(experiment_auc: float, baseline: dict, *, normalised: bool = False) -> dict:
    """Whether an experiment clearly beats its metadata baseline, in figures and words.

    Args:
        experiment_auc: the experiment's pooled out-of-fold test AUC.
        baseline: :func:`metadata_baseline`'s result.
        normalised: the experiment's config already brings images to one resolution.

    Returns {experiment_auc, baseline_auc, margin (experiment - baseline), beats (margin >=
    BEAT_MARGIN), shortcut (baseline >= SHORTCUT_AUC), flagged (not beats), warning (words, ''
    when neither), suggestion (the config setting that removes a size shortcut, or '')}.
    """
    base = float(baseline["auc"])
    margin = float(experiment_auc) - base if not math.isnan(experiment_auc) else math.nan
    beats = bool(not math.isnan(margin) and margin >= BEAT_MARGIN)
    shortcut = bool(base >= SHORTCUT_AUC)
    single = baseline.get("single")
    size_led = False
    if single is not None and len(single):
        top = single.iloc[0]
        size_led = bool(top["property"] in SIZE_PROPERTIES and top["flagged"])
    words = []
    if not beats:
        words.append(f"The experiment (AUC {experiment_auc:.3f}) does not clearly beat what image size, file size "
                     f"and colour alone reach on the same folds (AUC {base:.3f}); it may have learnt the files, "
                     "not the eyes.")
    if shortcut:
        words.append(f"Metadata alone reach AUC {base:.3f} on this dataset: a shortcut.")
    suggestion = ""
    if (shortcut or not beats) and size_led and not normalised:
        suggestion = (f"set {NORMALISATION_FIELD} (e.g. --set {NORMALISATION_FIELD}=<the smallest image side>) "
                      "so every image is brought to one effective resolution before the network sees it")
        words.append(f"The strongest cue is {single.iloc[0]['name']} (AUC {single.iloc[0]['auc']:.2f}): {suggestion}.")
    return {"experiment_auc": float(experiment_auc), "baseline_auc": base, "margin": margin, "beats": beats,
            "shortcut": shortcut, "flagged": not beats, "warning": " ".join(words), "suggestion": suggestion}
