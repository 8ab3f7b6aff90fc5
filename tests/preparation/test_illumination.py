"""Illumination normalisation: Graham's local mean subtraction and CLAHE on lightness."""

from __future__ import annotations

import numpy as np
import pytest

from glaucoma_core.preparation.illumination import clahe, graham, normalise_illumination


def _gradient_field():
    yy, xx = np.mgrid[:128, :128]
    mask = (xx - 64) ** 2 + (yy - 64) ** 2 < 60**2
    base = 60 + xx * 1.2  # illumination falls from right to left
    image = np.zeros((128, 128, 3), np.uint8)
    image[..., 0] = np.where(mask, base, 0)
    image[..., 1] = np.where(mask, base * 0.5, 0)
    image[40:44, 30:90] = (30, 10, 5)  # a dark vessel-like line
    return image, mask


def test_graham_flattens_slow_illumination_and_keeps_small_detail():
    image, mask = _gradient_field()
    out = graham(image, mask)
    inner = mask & ~np.pad(np.ones((4, 60), bool), ((40, 84), (30, 38)))
    inner[:, :10] = inner[:, -10:] = False
    # the slow left-right gradient is gone (close to 128 across the field, away from the line)
    far = inner.copy()
    far[30:55] = False
    assert np.abs(out[..., 0][far].astype(float) - 128).mean() < 12
    # the dark line stays dark, the outside is neutral grey
    assert out[41, 60, 0] < 90
    assert (out[~mask] == 128).all()


def test_clahe_raises_local_contrast_and_keeps_the_surround():
    image, mask = _gradient_field()
    low = (image.astype(float) * 0.3 + 40).astype(np.uint8)
    low[~mask] = 0
    out = clahe(low, mask)
    assert out[..., 0][mask].std() > low[..., 0][mask].std()
    assert (out[~mask] == 0).all()


def test_unknown_method_is_refused():
    image, mask = _gradient_field()
    assert normalise_illumination(image, "none") is image
    with pytest.raises(ValueError, match="graham"):
        normalise_illumination(image, "retinex")
