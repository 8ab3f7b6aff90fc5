"""Shortcut detection: does a property that is not the disease separate the classes?

Some public fundus databases store their glaucoma images at another resolution, with
another camera or another compression than their normal images. A network then learns
the file, not the eye. Here every property is scored on its own as if it were a
classifier of glaucoma (label 1): its ROC AUC. An AUC near 0.5 means the property says
nothing about the class; an AUC far from 0.5 (either way) means it alone separates the
classes, which is a warning sign.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# A property whose AUC lies outside [0.5 - margin, 0.5 + margin] is flagged.
DEFAULT_MARGIN = 0.2

# Index columns checked by default, with a human name.
INDEX_PROPERTIES = {
    "width": "image width",
    "height": "image height",
    "aspect": "aspect ratio (width / height)",
    "pixels": "pixel count",
    "bytes": "file size",
}

#: Properties whose shortcut a resolution normalisation removes (the warning says so).
SIZE_NAMES = frozenset(INDEX_PROPERTIES.values())


def property_auc(values, labels) -> float:
    """ROC AUC of ``values`` used as a score for glaucoma.

    values: numbers, one per image (missing values are dropped with their label).
    labels: 0 (normal) or 1 (glaucoma), same length.
    Returns the probability that a random glaucoma image has a larger value than a random
    normal one (ties count one half), or NaN when either class is absent.
    """
    v = pd.to_numeric(pd.Series(np.asarray(values, dtype=object)), errors="coerce").to_numpy(dtype=float)
    y = np.asarray(labels, dtype=float)
    if v.shape != y.shape:
        raise ValueError(f"values ({v.shape[0]}) and labels ({y.shape[0]}) differ in length")
    keep = ~(np.isnan(v) | np.isnan(y))
    v, y = v[keep], y[keep]
    n_pos = int((y == 1).sum())
    n_neg = int((y == 0).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    # Mann-Whitney U from average ranks (ties get their mean rank).
    ranks = pd.Series(v).rank(method="average").to_numpy()
    u = ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def add_derived_properties(index: pd.DataFrame) -> pd.DataFrame:
    """Copy of ``index`` with ``aspect`` (width / height) and ``pixels`` (width * height) added."""
    out = index.copy()
    if {"width", "height"} <= set(out.columns):
        w = pd.to_numeric(out["width"], errors="coerce").astype(float)
        h = pd.to_numeric(out["height"], errors="coerce").astype(float)
        out["aspect"] = w / h.replace(0, np.nan)
        out["pixels"] = w * h
    return out


def shortcut_report(
    table: pd.DataFrame,
    properties: dict[str, str] | None = None,
    *,
    margin: float = DEFAULT_MARGIN,
    label_column: str = "label",
) -> pd.DataFrame:
    """Score each property of ``table`` as a glaucoma classifier on its own.

    table: one row per image with ``label_column`` (0/1) and the property columns (for
        instance a dataset index, or image statistics with brightness columns).
    properties: column -> human name; default :data:`INDEX_PROPERTIES` plus ``aspect`` and
        ``pixels`` derived from width and height. Missing columns are skipped.
    margin: a property is flagged when ``abs(auc - 0.5) >= margin``.
    Returns one row per property: property, name, auc, separation (``abs(auc - 0.5) * 2``,
    0 = none, 1 = perfect), flagged (bool), distinct (number of distinct values), message.
    Sorted with the most separating property first.
    """
    if not 0 < margin <= 0.5:
        raise ValueError(f"margin must be in (0, 0.5], got {margin}")
    properties = dict(INDEX_PROPERTIES if properties is None else properties)
    data = add_derived_properties(table) if {"width", "height"} <= set(table.columns) else table
    rows = []
    for column, name in properties.items():
        if column not in data.columns or label_column not in data.columns:
            continue
        auc = property_auc(data[column], data[label_column])
        separation = abs(auc - 0.5) * 2 if not np.isnan(auc) else float("nan")
        flagged = bool(not np.isnan(auc) and abs(auc - 0.5) >= margin)
        distinct = int(pd.Series(data[column]).nunique(dropna=True))
        rows.append(
            {
                "property": column,
                "name": name,
                "auc": auc,
                "separation": separation,
                "flagged": flagged,
                "distinct": distinct,
                "message": _message(name, auc, flagged),
            }
        )
    report = pd.DataFrame(
        rows, columns=["property", "name", "auc", "separation", "flagged", "distinct", "message"]
    )
    return report.sort_values("separation", ascending=False, na_position="last").reset_index(drop=True)


def _message(name: str, auc: float, flagged: bool) -> str:
    if np.isnan(auc):
        return f"{name}: cannot be scored (only one class present)"
    direction = "larger" if auc > 0.5 else "smaller"
    if flagged:
        fix = (" Set resolution_normalisation in the configuration (every image brought to one effective "
               "resolution, at most the smallest image side) so the network cannot use it."
               if name in SIZE_NAMES else "")
        return (
            f"{name} alone separates the classes (AUC {auc:.2f}): glaucoma images tend to have a "
            f"{direction} {name}. A network may learn this instead of the disease.{fix}"
        )
    return f"{name} does not separate the classes (AUC {auc:.2f})"
