"""The one place where external image files become a fold model's P(glaucoma).

Images go through the training input path (:func:`glaucoma_core.data.pipeline.load_images`,
with the run's own input size and image settings), so an external image is prepared exactly
as the model's training and test images were. Swap this function to change how every external
evaluation reads images.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def image_settings(config: dict) -> dict:
    """The image-loading settings of a run's config that :func:`load_images` takes."""
    value = (config or {}).get("resolution_normalisation")
    return {"resolution": int(value)} if value else {}


def run_probabilities(model, config: dict, frame: pd.DataFrame) -> np.ndarray:
    """P(glaucoma) of every row of ``frame`` (columns path, sha256) with a run's ``model``.

    Args:
        model: the run's loaded Keras model (raw RGB 0..255 in, P(glaucoma) in column 1).
        config: the run's config dict (its image settings are applied as in training).
        frame: the images.

    Returns one probability per row, NaN where the file could not be decoded.
    """
    from glaucoma_core.data.pipeline import load_images
    from glaucoma_core.training.predict import model_input_size, predict_probabilities

    size = model_input_size(model)
    rows = frame.reset_index(drop=True).assign(_row=lambda f: np.arange(len(f)))
    loaded = load_images(rows, size, preparation=config, **image_settings(config))  # fundus preparation too
    out = np.full(len(rows), np.nan)
    if len(loaded.frame):
        out[loaded.frame["_row"].to_numpy(int)] = predict_probabilities(model, loaded.images)
    return out
