"""The SavedModel's resize is Pillow's bilinear resize: pixel for pixel for images at least as wide
as tall, within one grey level for portrait images (Pillow 13 may run their passes the other way)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from glaucoma_core.export.pil_resize import pil_bilinear_resize


def _pil(image: np.ndarray, size: int) -> np.ndarray:
    return np.asarray(Image.fromarray(image).resize((size, size), Image.Resampling.BILINEAR))


def _smooth(h: int, w: int, rng) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    base = 127 + 100 * np.sin(xx / max(w, 1) * 7 + rng.uniform()) * np.cos(yy / max(h, 1) * 5)
    image = np.stack([base, base[::-1], 255 - base], axis=-1) + rng.normal(0, 3, (h, w, 3))
    return np.clip(image, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("shape", [(224, 224), (256, 256), (300, 401), (37, 53), (224, 300), (1, 7),
                                   (700, 1000), (480, 640)])
@pytest.mark.parametrize("size", [32, 224, 299])
def test_equals_pillow_bilinear(shape, size):
    rng = np.random.default_rng(sum(shape) * 1000 + size)
    for image in (rng.integers(0, 256, (*shape, 3), dtype=np.uint8), _smooth(*shape, rng)):
        got = pil_bilinear_resize(image[None], size).numpy()[0]
        assert got.dtype == np.uint8 and got.shape == (size, size, 3)
        np.testing.assert_array_equal(got, _pil(image, size))


@pytest.mark.parametrize("shape", [(300, 224), (97, 1), (401, 300), (660, 440)])
def test_portrait_images_within_one_grey_level(shape):
    rng = np.random.default_rng(shape[0])
    image = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
    for size in (32, 224):
        got = pil_bilinear_resize(image[None], size).numpy()[0].astype(int)
        assert np.abs(got - _pil(image, size).astype(int)).max() <= 1


def test_batch_and_identity():
    rng = np.random.default_rng(1)
    batch = rng.integers(0, 256, (3, 48, 64, 3), dtype=np.uint8)
    got = pil_bilinear_resize(batch, 40).numpy()
    for i in range(3):
        np.testing.assert_array_equal(got[i], _pil(batch[i], 40))
    same = rng.integers(0, 256, (2, 40, 40, 3), dtype=np.uint8)
    np.testing.assert_array_equal(pil_bilinear_resize(same, 40).numpy(), same)
