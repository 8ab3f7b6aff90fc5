"""How far apart two datasets are, before an external figure is trusted.

:func:`shift_report` puts the image properties of two datasets side by side (mean, standard
deviation and the standardised mean difference of each) and gives one **domain distance**:
the cross-validated AUC of a logistic regression on the standardised properties that tells an
image of one dataset from one of the other. 0.5: the properties do not tell them apart (same
kind of images); 1.0: every image's source can be told from its size, colour or sharpness alone,
so the external set is another domain and a drop there is to be expected.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from glaucoma_core.evaluation.intervals import auc_interval
from glaucoma_core.external.properties import PROPERTIES

#: Domain distance at or above which the datasets are called far apart (a warning in words).
FAR_APART = 0.8
#: ... and at or above which they are called noticeably different.
NOTICEABLE = 0.65
CV_FOLDS = 5


def property_table(a: pd.DataFrame, b: pd.DataFrame, names=("internal", "external")) -> pd.DataFrame:
    """Each property of the two datasets side by side.

    Returns one row per property: property, name, <a>_mean, <a>_sd, <b>_mean, <b>_sd and
    smd (standardised mean difference, (mean_b - mean_a) / pooled sd; |smd| > 0.8 is large).
    """
    first, second = names
    rows = []
    for column, words in PROPERTIES.items():
        x, y = a[column].astype(float).dropna(), b[column].astype(float).dropna()
        pooled = math.sqrt((x.var(ddof=1) + y.var(ddof=1)) / 2) if len(x) > 1 and len(y) > 1 else math.nan
        diff = y.mean() - x.mean()
        smd = diff / pooled if pooled and pooled > 1e-12 else (0.0 if abs(diff) < 1e-12 else math.inf)
        rows.append({"property": column, "name": words, f"{first}_mean": x.mean(), f"{first}_sd": x.std(ddof=1),
                     f"{second}_mean": y.mean(), f"{second}_sd": y.std(ddof=1),
                     "smd": float(np.copysign(min(abs(smd), 99.0), smd)) if not math.isnan(smd) else math.nan})
    return pd.DataFrame(rows)


def domain_auc(a: pd.DataFrame, b: pd.DataFrame, *, columns=tuple(PROPERTIES), seed: int = 0,
               folds: int = CV_FOLDS) -> dict:
    """Cross-validated AUC of a logistic regression telling rows of ``b`` (1) from rows of ``a`` (0).

    Args:
        a, b: property tables (:func:`~glaucoma_core.external.properties.image_properties`).
        columns: the properties used (a column constant in both sets carries nothing and is dropped).
        seed: shuffling of the stratified folds.
        folds: folds of the cross-validation (fewer when a set is smaller).

    Returns {auc, ci_low, ci_high (DeLong), n_a, n_b, folds, top: the properties with the largest
    standardised coefficients ([{property, coefficient}], fitted on all rows)}.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x = pd.concat([a[list(columns)], b[list(columns)]], ignore_index=True).astype(float)
    x = x.fillna(x.median())
    keep = [c for c in x.columns if x[c].std() > 1e-12]
    y = np.r_[np.zeros(len(a), int), np.ones(len(b), int)]
    k = min(folds, len(a), len(b))
    if k < 2:
        raise ValueError(f"need at least 2 images in each dataset to measure their distance, got {len(a)} and {len(b)}")
    if not keep:
        return {"auc": 0.5, "ci_low": 0.5, "ci_high": 0.5, "n_a": len(a), "n_b": len(b), "folds": k, "top": []}
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    scores = cross_val_predict(model, x[keep].to_numpy(), y, method="predict_proba",
                               cv=StratifiedKFold(k, shuffle=True, random_state=seed))[:, 1]
    interval = auc_interval(y, scores)
    model.fit(x[keep].to_numpy(), y)
    coefficients = model[-1].coef_[0]
    order = np.argsort(-np.abs(coefficients))[:3]
    return {"auc": interval.estimate, "ci_low": interval.low, "ci_high": interval.high, "n_a": len(a), "n_b": len(b),
            "folds": k, "top": [{"property": keep[i], "coefficient": float(coefficients[i])} for i in order]}


def shift_warning(distance: float, table: pd.DataFrame | None = None) -> str:
    """Words for a domain distance: far apart (>= FAR_APART), noticeably different, or alike."""
    largest = ""
    if table is not None and len(table):
        big = table.reindex(table["smd"].abs().sort_values(ascending=False).index).head(3)
        big = big[big["smd"].abs() >= 0.8]
        if len(big):
            largest = " Largest differences: " + ", ".join(f"{r.name} (SMD {r.smd:+.1f})" for r in big.itertuples()) + "."
    if distance >= FAR_APART:
        return (f"The two datasets are far apart (domain distance {distance:.2f}: image properties alone tell "
                f"which dataset an image comes from). The external figures measure generalisation to another "
                f"domain; a drop would not be surprising.{largest}")
    if distance >= NOTICEABLE:
        return f"The two datasets differ noticeably (domain distance {distance:.2f}).{largest}"
    return f"The two datasets look alike in size, colour and sharpness (domain distance {distance:.2f})."


def shift_report(a: pd.DataFrame, b: pd.DataFrame, *, names=("internal", "external"), seed: int = 0) -> dict:
    """Properties side by side and the domain distance of two property tables.

    Returns {names, table (DataFrame of :func:`property_table`), distance (domain AUC),
    distance_ci95 ([low, high]), top (most telling properties), flagged (distance >= FAR_APART),
    warning (words, always given)}.
    """
    table = property_table(a, b, names)
    domain = domain_auc(a, b, seed=seed)
    return {"names": list(names), "table": table, "distance": domain["auc"],
            "distance_ci95": [domain["ci_low"], domain["ci_high"]], "n": {names[0]: len(a), names[1]: len(b)},
            "top": domain["top"], "flagged": bool(domain["auc"] >= FAR_APART),
            "warning": shift_warning(domain["auc"], table)}
