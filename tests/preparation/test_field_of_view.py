"""The camera's circular field: found with its centre and radius, or reported missing."""

from __future__ import annotations

import numpy as np

from glaucoma_core.preparation.field_of_view import circle_mask, find_field
from tests.preparation.helpers import full_field_set


def test_field_centre_and_radius_of_full_field_photographs():
    for image, truth, _ in full_field_set()[:12]:
        field = find_field(image)
        assert field.found, field.reason
        r = truth["field_radius_px"]
        assert abs(field.radius - r) < 0.04 * r
        assert np.hypot(field.center_x - truth["field_center_x_px"], field.center_y - truth["field_center_y_px"]) < 0.04 * r


def test_field_cut_by_the_frame_keeps_its_true_circle():
    image = np.zeros((200, 260, 3), np.uint8)
    image[circle_mask(260, 130, 100, 118)[:200]] = (160, 70, 40)  # circle cut at top and bottom
    field = find_field(image)
    assert field.found
    assert abs(field.radius - 118) < 3 and abs(field.center_x - 130) < 2 and abs(field.center_y - 100) < 2


def test_no_field_is_reported_with_a_reason():
    crop = np.full((120, 120, 3), (170, 80, 50), np.uint8)  # a disc crop: picture to every edge
    field = find_field(crop)
    assert not field.found and "surround" in field.reason
    dark = np.zeros((100, 100, 3), np.uint8)
    field = find_field(dark)
    assert not field.found and field.reason
    square = np.zeros((100, 100, 3), np.uint8)
    square[20:80, 10:90] = 200  # bright, dark corners, but a rectangle, not a circle
    field = find_field(square)
    assert not field.found and "circular" in field.reason
