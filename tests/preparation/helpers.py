"""Synthetic photographs with known disc and field positions, shared by the preparation tests."""

from __future__ import annotations

import io
from functools import lru_cache

import numpy as np
from PIL import Image

from glaucoma_core.data.fundus_synth import (
    render_full_field,
    render_fundus,
    sample_full_field,
    sample_parameters,
)

LOCALISATION_SEED = 7


@lru_cache(maxsize=4)
def full_field_set(n: int = 60, height: int = 256, seed: int = LOCALISATION_SEED):
    """(image, truth, layout) of ``n`` full-field photographs, most with bright spots or reflections."""
    out = []
    for p, layout in sample_full_field(n, seed, spot_probability=0.6, reflection_probability=0.6):
        image, truth = render_full_field(p, layout, height)
        out.append((image, truth, layout))
    return tuple(out)


@lru_cache(maxsize=2)
def demo_set(n: int = 40, size: int = 256):
    """(image, params) of ``n`` default demo images (disc-centred style)."""
    return tuple((render_fundus(p, size), p) for p in sample_parameters(n, seed=0))


def jpeg_bytes(image: np.ndarray, quality: int = 92) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()
