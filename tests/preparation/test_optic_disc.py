"""Optic-disc localisation on synthetic full-field photographs with a known disc (issue 16)."""

from __future__ import annotations

import numpy as np
import pytest

from glaucoma_core.preparation.field_of_view import find_field
from glaucoma_core.preparation.optic_disc import locate_disc
from tests.preparation.helpers import demo_set, full_field_set


@pytest.mark.slow  # 60 photographs: about 10-20 s on two busy cores
def test_disc_found_within_one_diameter_on_95_percent_of_full_field_photographs():
    images = full_field_set()
    assert sum(bool(layout.spots) for _, _, layout in images) >= 20  # spots brighter than the disc
    assert sum(bool(layout.reflections) for _, _, layout in images) >= 20
    errors, sizes = [], []
    for image, truth, _ in images:
        disc = locate_disc(image, find_field(image))
        d = truth["disc_diameter_px"]
        errors.append(np.hypot(disc.center_x - truth["disc_center_x_px"], disc.center_y - truth["disc_center_y_px"]) / d)
        sizes.append(disc.diameter / d)
        assert not disc.disc_centred  # full-field photographs are recognised as such
    errors = np.array(errors)
    assert (errors <= 1.0).mean() >= 0.95
    assert np.median(errors) < 0.25
    assert 0.8 < np.median(sizes) < 1.25  # the diameter is estimated, not just the centre


def test_demo_images_are_recognised_as_disc_centred():
    for image, p in demo_set(20):
        disc = locate_disc(image, find_field(image))
        assert disc.disc_centred, (p.index, disc)
        dx = p.disc_x if p.eye == "OS" else 1 - p.disc_x
        assert np.hypot(disc.center_x - dx * 256, disc.center_y - p.disc_y * 256) < 2 * p.disc_radius * 256


def test_confidence_is_low_without_a_disc():
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:200, :200]
    field = (xx - 100) ** 2 + (yy - 100) ** 2 < 90**2
    image = np.zeros((200, 200, 3), np.uint8)
    image[field] = (170, 70, 40)
    image = np.clip(image + rng.normal(0, 3, image.shape) * field[..., None], 0, 255).astype(np.uint8)
    disc = locate_disc(image, find_field(image))
    assert disc.confidence < 0.5
    # one clear disc: high confidence
    bright = image.copy()
    bright[(xx - 60) ** 2 + (yy - 100) ** 2 < 12**2] = (250, 200, 150)
    found = locate_disc(bright, find_field(bright))
    assert np.hypot(found.center_x - 60, found.center_y - 100) < 12
    assert found.confidence > disc.confidence
