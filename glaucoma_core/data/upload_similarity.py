"""Is an uploaded image like the images a model was trained on? (size and shape only)

A model trained on 256 px disc crops still answers for a 1411 px full-field photograph, with
confidence and a blank Grad-CAM; the answer means little. This compares an upload's pixel
size and aspect ratio with the usable images of the training dataset and says, in words, when
it lies far outside them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

SIZE_FACTOR = 2.0  # an upload more than 2x larger or smaller (longer side) than the training median
ASPECT_MARGIN = 0.15  # an aspect ratio more than 15 % outside the training range


@dataclass(frozen=True)
class SizeProfile:
    """The training images' sizes: median longer side, range of aspect ratios (width / height)."""

    n: int
    median_side: float
    min_side: int
    max_side: int
    min_aspect: float
    max_aspect: float


def size_profile(index: pd.DataFrame) -> SizeProfile | None:
    """The size profile of a dataset index's usable, unique images (None when there is none)."""
    if index is None or index.empty or not {"width", "height"} <= set(index.columns):
        return None
    table = index[index["problem"].fillna("") == ""] if "problem" in index.columns else index
    if "sha256" in table.columns:
        table = table.drop_duplicates("sha256")
    table = table.dropna(subset=["width", "height"])
    table = table[(table["width"] > 0) & (table["height"] > 0)]
    if table.empty:
        return None
    width, height = table["width"].astype(float).to_numpy(), table["height"].astype(float).to_numpy()
    side, aspect = np.maximum(width, height), width / height
    return SizeProfile(len(table), float(np.median(side)), int(side.min()), int(side.max()), float(aspect.min()),
                       float(aspect.max()))


def unlike_training(width: int, height: int, profile: SizeProfile | None) -> str | None:
    """Why an upload of ``width`` x ``height`` px is unlike the training images, else None."""
    if profile is None or width <= 0 or height <= 0:
        return None
    reasons = []
    side, aspect = max(width, height), width / height
    if side > SIZE_FACTOR * max(profile.max_side, profile.median_side) or side < min(profile.min_side,
                                                                                 profile.median_side) / SIZE_FACTOR:
        reasons.append(f"its longer side is {side} px, the training images' {profile.min_side}–{profile.max_side} px "
                       f"(median {profile.median_side:.0f})")
    if aspect > profile.max_aspect * (1 + ASPECT_MARGIN) or aspect < profile.min_aspect * (1 - ASPECT_MARGIN):
        reasons.append(f"its aspect ratio is {aspect:.2f}, the training images' {profile.min_aspect:.2f}–"
                       f"{profile.max_aspect:.2f}")
    if not reasons:
        return None
    return ("Unlike the training images: " + "; ".join(reasons) + f" ({profile.n} images). The model has not seen "
            "images like this one (a different camera, field or crop?): treat its answer with caution.")
