"""Grad-CAM for a gallery of images: one batched pass of the core's Grad-CAM."""

from __future__ import annotations

import numpy as np

MAX_ALPHA = 0.6  # colour weight where the map is hottest


def heat_weighted_overlay(image: np.ndarray, heat: np.ndarray, max_alpha: float = MAX_ALPHA) -> np.ndarray:
    """``image`` with the jet colours of ``heat`` (2-D, in [0, 1]) blended in proportion to the
    heat: cold regions keep their own colours, so the map shows where the model looked instead
    of tinting the whole photograph blue."""
    from glaucoma_core.evaluation.gradcam import jet_colormap, resize_heatmap

    img = np.asarray(image, dtype=np.float32)
    resized = resize_heatmap(heat, img.shape[:2])
    weight = (max_alpha * np.clip(resized, 0.0, 1.0))[..., None]
    blended = (1.0 - weight) * img + weight * jet_colormap(resized).astype(np.float32)
    return np.clip(np.round(blended), 0, 255).astype(np.uint8)


def gradcam_overlays(model, images: list[np.ndarray]) -> list[np.ndarray]:
    """Grad-CAM overlays for a gallery (one batched pass), each at its image's own size."""
    from glaucoma_core.evaluation import gradcam

    if not images:
        return []
    images = [np.asarray(image, dtype=np.uint8) for image in images]
    heats = gradcam.gradcam_heatmaps(model, images, target="glaucoma_logit", resize=False)
    return [heat_weighted_overlay(image, heat) for image, heat in zip(images, heats, strict=True)]
