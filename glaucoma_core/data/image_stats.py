"""Pixel statistics of images, by class: brightness, colour, histograms.

Used by the dataset page (exploratory analysis) and by the shortcut check: a brightness or
colour difference between the classes that is not the disease is worth knowing about.
Images are read small (``size`` x ``size``) and, for large datasets, sampled per class, so
that the statistics of 17,000 photographs take seconds rather than minutes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np
import pandas as pd

from glaucoma_core.labels import CLASS_NAMES

CHANNELS = ("red", "green", "blue")

STAT_COLUMNS = (
    "brightness",
    "brightness_sd",
    "mean_red",
    "mean_green",
    "mean_blue",
    "dark_fraction",
)


def pixel_statistics(image: np.ndarray) -> dict[str, float]:
    """Summary numbers of one RGB image.

    image: uint8 array (H, W, 3).
    Returns brightness (mean of the luma, 0..255), brightness_sd, mean_red, mean_green,
    mean_blue and dark_fraction (share of pixels with luma below 20, i.e. the black border
    around the fundus).
    """
    arr = np.asarray(image)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise ValueError(f"expected an RGB array (H, W, 3), got shape {arr.shape}")
    rgb = arr.astype(np.float64)
    luma = 0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]
    return {
        "brightness": float(luma.mean()),
        "brightness_sd": float(luma.std()),
        "mean_red": float(rgb[..., 0].mean()),
        "mean_green": float(rgb[..., 1].mean()),
        "mean_blue": float(rgb[..., 2].mean()),
        "dark_fraction": float((luma < 20).mean()),
    }


def channel_histogram(image: np.ndarray, bins: int = 32) -> np.ndarray:
    """Per-channel histogram of an RGB uint8 image: array (3, bins) of pixel fractions."""
    arr = np.asarray(image)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise ValueError(f"expected an RGB array (H, W, 3), got shape {arr.shape}")
    if bins < 1 or bins > 256:
        raise ValueError(f"bins must be between 1 and 256, got {bins}")
    out = np.empty((3, bins), dtype=np.float64)
    n = arr.shape[0] * arr.shape[1]
    for c in range(3):
        counts, _ = np.histogram(arr[..., c], bins=bins, range=(0, 256))
        out[c] = counts / max(n, 1)
    return out


def sample_per_class(index: pd.DataFrame, per_class: int | None, seed: int = 0) -> pd.DataFrame:
    """At most ``per_class`` rows of each label (all when None), chosen with ``seed``.

    Rows with the same sha256 (the same image in several folds) are counted once.
    """
    table = index
    if "sha256" in table.columns:
        table = table.drop_duplicates("sha256")
    if per_class is None:
        return table
    parts = []
    for _, group in table.groupby("label", sort=True):
        if len(group) > per_class:
            group = group.sample(n=per_class, random_state=seed)
        parts.append(group)
    return pd.concat(parts) if parts else table.iloc[0:0]


def _default_loader(size: int) -> Callable[[str], np.ndarray]:
    from glaucoma_core.data.images import load_rgb_array

    return lambda path: load_rgb_array(path, size=size)


def image_statistics(
    index: pd.DataFrame,
    *,
    per_class: int | None = 200,
    size: int = 64,
    bins: int = 32,
    seed: int = 0,
    loader: Callable[[str], np.ndarray] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Pixel statistics and colour histograms of (a sample of) the usable images of an index.

    index: dataset index (columns path, label, and ideally sha256, problem).
    per_class: images read per class at most (None = all).
    size: images are read resized to ``size`` x ``size`` (enough for brightness and colour).
    bins: histogram bins per channel.
    loader: path -> uint8 RGB array; default reads with :func:`glaucoma_core.data.images.load_rgb_array`.
    Returns (stats, histograms):
      stats: one row per image read: path, label, class, and :data:`STAT_COLUMNS`;
      histograms: mean histogram per class and channel: class, label, channel, bin, bin_start,
      fraction. Images that cannot be read are skipped.
    """
    table = index
    if "problem" in table.columns:
        table = table[table["problem"].fillna("") == ""]
    table = sample_per_class(table, per_class, seed=seed)
    load = loader or _default_loader(size)
    stat_rows: list[dict] = []
    sums: dict[int, np.ndarray] = {}
    counts: dict[int, int] = {}
    for path, label in zip(table["path"], table["label"], strict=True):
        try:
            image = load(path)
        except Exception:  # an unreadable image is reported by the scan, not here
            continue
        label = int(label)
        stats = pixel_statistics(image)
        stat_rows.append({"path": path, "label": label, "class": CLASS_NAMES[label], **stats})
        hist = channel_histogram(image, bins=bins)
        sums[label] = sums.get(label, 0) + hist
        counts[label] = counts.get(label, 0) + 1
    stats_df = pd.DataFrame(stat_rows, columns=["path", "label", "class", *STAT_COLUMNS])
    return stats_df, _histogram_table(sums, counts, bins)


def _histogram_table(sums: dict[int, np.ndarray], counts: dict[int, int], bins: int) -> pd.DataFrame:
    rows = []
    width = 256 / bins
    for label in sorted(sums):
        mean = sums[label] / counts[label]
        for c, channel in enumerate(CHANNELS):
            for b in range(bins):
                rows.append(
                    {
                        "class": CLASS_NAMES[label],
                        "label": label,
                        "channel": channel,
                        "bin": b,
                        "bin_start": b * width,
                        "fraction": float(mean[c, b]),
                    }
                )
    return pd.DataFrame(rows, columns=["class", "label", "channel", "bin", "bin_start", "fraction"])


def summarize_by_class(stats: pd.DataFrame, columns: Iterable[str] = STAT_COLUMNS) -> pd.DataFrame:
    """Mean and standard deviation of each statistic per class: columns class, n, <col>_mean, <col>_sd."""
    columns = [c for c in columns if c in stats.columns]
    if stats.empty:
        return pd.DataFrame(columns=["class", "n"])
    grouped = stats.groupby("class", sort=True)
    out = grouped.size().rename("n").to_frame()
    for column in columns:
        out[f"{column}_mean"] = grouped[column].mean()
        out[f"{column}_sd"] = grouped[column].std()
    return out.reset_index()


def size_summary(index: pd.DataFrame) -> pd.DataFrame:
    """Image sizes per class: class, n, distinct sizes, the most common size, width and height ranges."""
    if index.empty:
        return pd.DataFrame(columns=["class", "n", "distinct_sizes", "most_common_size"])
    table = index.drop_duplicates("sha256") if "sha256" in index.columns else index
    if "problem" in table.columns:
        table = table[table["problem"].fillna("") == ""]
    rows = []
    for label, group in table.groupby("label", sort=True):
        sizes = group["width"].astype("string") + " x " + group["height"].astype("string")
        rows.append(
            {
                "class": CLASS_NAMES[int(label)],
                "n": len(group),
                "distinct_sizes": int(sizes.nunique()),
                "most_common_size": sizes.mode().iloc[0] if len(sizes) else "",
                "width_min": int(group["width"].min()),
                "width_max": int(group["width"].max()),
                "height_min": int(group["height"].min()),
                "height_max": int(group["height"].max()),
            }
        )
    return pd.DataFrame(rows)
