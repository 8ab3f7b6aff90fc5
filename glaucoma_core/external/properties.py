"""What an image is apart from the eye: size, file size, brightness, colour, sharpness, border.

Two databases differ in camera, resolution, compression and field of view before they differ
in patients; a classifier may learn any of these. :func:`image_properties` measures them per
image so that they can be compared between datasets (:mod:`.shift`) and used as a baseline
classifier (:mod:`.baseline`). Pixel statistics come from :mod:`glaucoma_core.data.image_stats`;
sharpness (variance of the Laplacian of the luma) is added here. ``dark_fraction`` (the share
of near-black pixels) tells a full-field photograph (black surround, typically 0.2-0.4) from a
disc-centred crop (almost none).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from glaucoma_core.data.image_stats import pixel_statistics, sample_per_class

#: Side (pixels) images are read at for the pixel properties: enough for colour and sharpness.
READ_SIDE = 128

#: Property column -> words, in the order tables show them.
PROPERTIES = {
    "width": "width (px)",
    "height": "height (px)",
    "aspect": "aspect ratio (width / height)",
    "megapixels": "megapixels",
    "bytes_per_pixel": "file bytes per pixel (compression)",
    "kilobytes": "file size (kB)",
    "brightness": "brightness (mean luma, 0-255)",
    "brightness_sd": "contrast (luma standard deviation)",
    "mean_red": "mean red",
    "mean_green": "mean green",
    "mean_blue": "mean blue",
    "sharpness": "sharpness (variance of the Laplacian at 128 px)",
    "dark_fraction": "dark border share (full field ~0.3, disc crop ~0)",
}

#: What a metadata baseline may look at: image size, file size, global colour and brightness.
METADATA_FEATURES = ("width", "height", "kilobytes", "brightness", "mean_red", "mean_green", "mean_blue")


def sharpness(image: np.ndarray) -> float:
    """Variance of the 4-neighbour Laplacian of the luma of a uint8 RGB image (higher = sharper)."""
    from scipy import ndimage

    rgb = np.asarray(image, dtype=np.float64)
    luma = 0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]
    return float(ndimage.laplace(luma).var())


def _loader(side: int) -> Callable[[str], np.ndarray]:
    from glaucoma_core.data.images import load_rgb_array

    return lambda path: load_rgb_array(path, size=side)


def image_properties(index: pd.DataFrame, *, per_class: int | None = None, seed: int = 0,
                     side: int = READ_SIDE, loader: Callable[[str], np.ndarray] | None = None) -> pd.DataFrame:
    """One row per distinct usable image of ``index`` with its :data:`PROPERTIES`.

    Args:
        index: a dataset index (columns path, sha256, label, width, height, bytes, problem).
        per_class: read at most this many images per class (None: all).
        seed: which images are sampled.
        side: images are read resized to side x side for the pixel properties.
        loader: path -> uint8 RGB array (default: the safe image reader at ``side``).

    Returns columns path, sha256, label and the properties; an image that cannot be read now
    (changed since the scan) is left out.
    """
    table = index[index["problem"].fillna("") == ""] if "problem" in index.columns else index
    table = sample_per_class(table, per_class, seed=seed)
    load = loader or _loader(side)
    rows = []
    for row in table.itertuples(index=False):
        try:
            pixels = load(row.path)
        except Exception:  # noqa: BLE001 - the scan reports unreadable files; here it is just left out
            continue
        stats = pixel_statistics(pixels)
        width, height = float(row.width), float(row.height)
        rows.append({
            "path": row.path, "sha256": getattr(row, "sha256", ""), "label": int(row.label),
            "width": width, "height": height, "aspect": width / height if height else np.nan,
            "megapixels": width * height / 1e6, "kilobytes": float(row.bytes) / 1024,
            "bytes_per_pixel": float(row.bytes) / (width * height) if width * height else np.nan,
            **{k: stats[k] for k in ("brightness", "brightness_sd", "mean_red", "mean_green", "mean_blue",
                                     "dark_fraction")},
            "sharpness": sharpness(pixels),
        })
    return pd.DataFrame(rows, columns=["path", "sha256", "label", *PROPERTIES])
