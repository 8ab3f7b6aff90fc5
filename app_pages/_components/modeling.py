"""Calling trained models from the pages: input size, probabilities, Grad-CAM overlays."""

from __future__ import annotations

import numpy as np


def input_size(model) -> int:
    """The square input size S of a saved model (input (S, S, 3), RGB 0..255)."""
    from glaucoma_core.training.predict import model_input_size

    return int(model_input_size(model))


def predict(model, images_uint8: np.ndarray) -> np.ndarray:
    """P(glaucoma) for a batch of uint8 RGB images already at the model's input size."""
    from glaucoma_core.training.predict import predict_probabilities

    return np.asarray(predict_probabilities(model, images_uint8), dtype=np.float64)


def gradcam_overlay(model, image_uint8: np.ndarray) -> np.ndarray:
    """Heat map of the glaucoma logit over ``image_uint8`` (at the model's input size), as RGB uint8."""
    from glaucoma_core.evaluation import gradcam

    return np.asarray(gradcam.gradcam_overlay(model, image_uint8))


def gradcam_overlays(model, images: list[np.ndarray]) -> list[np.ndarray]:
    """Grad-CAM overlays for a gallery (one batched pass), each at its image's own size."""
    from glaucoma_core.evaluation import gradcam

    if not images:
        return []
    return [np.asarray(o) for o in gradcam.gradcam_overlays(model, images)]
