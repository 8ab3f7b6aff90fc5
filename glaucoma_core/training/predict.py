"""Probabilities of glaucoma from a trained classifier (any model honouring the contract).

Files become model inputs through :func:`load_model_inputs` (the config's fundus preparation,
the same as in training); arrays already prepared go to :func:`predict_probabilities`.
"""

from __future__ import annotations

import numpy as np


def model_input_size(model) -> int:
    """Side in pixels of the square input the model takes."""
    shape = model.input_shape
    if isinstance(shape, list):
        shape = shape[0]
    return int(shape[1])


def load_model_inputs(sources, model_or_size, config=None) -> np.ndarray:
    """The images a model of ``config`` sees for these files: uint8 (n, S, S, 3).

    Args:
        sources: paths, bytes or binary files (one image each).
        model_or_size: the model (its input side is used) or the side in pixels.
        config: the run's TrainConfig or stored config dict: its fundus preparation and
            resolution normalisation are applied exactly as in training
            (:func:`glaucoma_core.preparation.load_prepared_array`); None = none.

    Raises ImageProblem for a file that cannot be used.
    """
    from glaucoma_core.preparation import load_prepared_array

    size = model_or_size if isinstance(model_or_size, int) else model_input_size(model_or_size)
    arrays = [load_prepared_array(source, size, config) for source in sources]
    return np.stack(arrays) if arrays else np.zeros((0, size, size, 3), np.uint8)


def predict_files(model, sources, config=None, batch_size: int = 64) -> np.ndarray:
    """P(glaucoma) of image files, prepared as the model's training images were (see
    :func:`load_model_inputs`)."""
    return predict_probabilities(model, load_model_inputs(sources, model, config), batch_size=batch_size)


def predict_probabilities(model, images_uint8: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """P(glaucoma) of each image.

    Args:
        model: a classifier whose output column 1 is P(glaucoma) and whose input is raw RGB
            0..255 (the saved-model contract).
        images_uint8: (n, H, W, 3) or one (H, W, 3) image, uint8 (or any numeric 0..255).
            Images not at the model's size are resized (bilinear).
        batch_size: images per forward pass.

    Returns a float64 array of shape (n,) (shape (1,) for one image).
    """
    images = np.asarray(images_uint8)
    if images.ndim == 3:
        images = images[None]
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"expected RGB images (n, H, W, 3), got shape {images.shape}")
    if len(images) == 0:
        return np.zeros((0,), np.float64)
    size = model_input_size(model)
    x = images.astype(np.float32)
    if x.shape[1:3] != (size, size):
        import tensorflow as tf

        x = tf.image.resize(x, (size, size), method="bilinear").numpy()
    if len(x) <= batch_size:
        # predict_on_batch runs Keras' compiled (cached) predict function: a small batch costs
        # about a sixth of an eager ``model(x)`` call on CPU (benchmarks/predict_latency.py).
        probabilities = np.asarray(model.predict_on_batch(x))
    else:
        probabilities = model.predict(x, batch_size=batch_size, verbose=0)
    return np.asarray(probabilities, dtype=np.float64)[:, 1]
