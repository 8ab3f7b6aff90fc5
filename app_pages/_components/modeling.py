"""Grad-CAM for a gallery of images: one batched pass of the core's Grad-CAM."""

from __future__ import annotations

import numpy as np


def gradcam_overlays(model, images: list[np.ndarray]) -> list[np.ndarray]:
    """Grad-CAM overlays for a gallery (one batched pass), each at its image's own size."""
    from glaucoma_core.evaluation import gradcam

    if not images:
        return []
    return [np.asarray(o) for o in gradcam.gradcam_overlays(model, images)]
