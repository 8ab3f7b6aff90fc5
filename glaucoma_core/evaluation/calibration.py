"""Calibration: does P(glaucoma) = 0.8 mean 80 % of such images have glaucoma?"""

from __future__ import annotations

import numpy as np
import pandas as pd

from glaucoma_core.evaluation import metrics as m


def reliability_curve(labels, probabilities, n_bins: int = 10, strategy: str = "uniform") -> pd.DataFrame:
    """Binned reliability curve.

    Args:
        labels, probabilities: predictions (1 = glaucoma, P(glaucoma) in [0, 1]).
        n_bins: number of bins.
        strategy: 'uniform' (equal-width bins over [0, 1], each (low, high], the first
            also holding 0) or
            'quantile' (bins holding about the same number of images).

    Returns:
        DataFrame with one row per non-empty bin: bin, bin_low, bin_high, mean_predicted,
        fraction_glaucoma, count (same values as ``sklearn.calibration.calibration_curve``).
    """
    if n_bins < 1:
        raise ValueError(f"n_bins must be at least 1, got {n_bins}")
    y, p = m.check_inputs(labels, probabilities, probabilities=True)
    if strategy == "uniform":
        edges = np.linspace(0.0, 1.0, n_bins + 1)
    elif strategy == "quantile":
        edges = np.percentile(p, np.linspace(0, 100, n_bins + 1))
    else:
        raise ValueError(f"strategy must be 'uniform' or 'quantile', got {strategy!r}")
    index = np.searchsorted(edges[1:-1], p, side="left")
    rows = []
    for b in range(len(edges) - 1):
        members = index == b
        count = int(members.sum())
        if count:
            rows.append({"bin": b, "bin_low": float(edges[b]), "bin_high": float(edges[b + 1]),
                         "mean_predicted": float(p[members].mean()),
                         "fraction_glaucoma": float(y[members].mean()), "count": count})
    return pd.DataFrame(rows, columns=["bin", "bin_low", "bin_high", "mean_predicted", "fraction_glaucoma", "count"])


def expected_calibration_error(labels, probabilities, n_bins: int = 10, strategy: str = "uniform") -> float:
    """ECE: sum over bins of (share of images in the bin) x |fraction glaucoma - mean P(glaucoma)|."""
    curve = reliability_curve(labels, probabilities, n_bins, strategy)
    weights = curve["count"] / curve["count"].sum()
    return float(np.sum(weights * np.abs(curve["fraction_glaucoma"] - curve["mean_predicted"])))
