"""Several models' probabilities for the same images: the mean, and the spread as doubt.

A cross-validation experiment leaves one model per fold. Used together on a new image, their
mean probability is the ensemble's answer and their spread (standard deviation, range) says
how much the fold models disagree: a large spread means the answer depends on which images
the model happened to see.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def summarize_probabilities(probabilities) -> pd.DataFrame:
    """Per-image summary of a (models x images) matrix of P(glaucoma).

    probabilities: array-like of shape (n_models, n_images); a 1-D input is one model.
    Returns one row per image: probability (mean), sd (0 for one model), low, high (min and
    max over models), n_models.
    """
    p = np.asarray(probabilities, dtype=np.float64)
    if p.ndim == 1:
        p = p[None, :]
    if p.ndim != 2 or p.shape[0] == 0:
        raise ValueError(f"expected a (models x images) matrix, got shape {p.shape}")
    if np.any((p < 0) | (p > 1)) or np.any(np.isnan(p)):
        raise ValueError("probabilities must lie in [0, 1]")
    sd = p.std(axis=0, ddof=1) if p.shape[0] > 1 else np.zeros(p.shape[1])
    return pd.DataFrame(
        {
            "probability": p.mean(axis=0),
            "sd": sd,
            "low": p.min(axis=0),
            "high": p.max(axis=0),
            "n_models": p.shape[0],
        }
    )


def decide(probabilities, threshold: float) -> np.ndarray:
    """1 (glaucoma) where probability >= threshold, else 0."""
    return (np.asarray(probabilities, dtype=np.float64) >= float(threshold)).astype(int)
