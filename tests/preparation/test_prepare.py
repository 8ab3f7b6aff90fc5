"""The preparation entry: settings -> steps in a fixed order, a record, a cache key."""

from __future__ import annotations

import numpy as np
import pytest

from glaucoma_core.data.images import ImageProblem, load_rgb_array
from glaucoma_core.data.pipeline import DecodedImageCache
from glaucoma_core.preparation import (
    PREPARATION_VERSION,
    PreparationSettings,
    cache_key,
    load_prepared_array,
    prepare_image,
)
from tests.preparation.helpers import demo_set, full_field_set, jpeg_bytes

AUTO = PreparationSettings(disc_crop="auto")


def test_no_settings_give_todays_pixels():
    data = jpeg_bytes(full_field_set()[0][0])
    assert np.array_equal(prepare_image(data, 64).pixels, load_rgb_array(data, 64))
    assert np.array_equal(load_prepared_array(data, 64, None), load_rgb_array(data, 64))


def test_auto_leaves_disc_centred_demo_images_exactly_alone():
    for image, _ in demo_set(6):
        data = jpeg_bytes(image)
        prepared = prepare_image(data, 96, AUTO)
        assert np.array_equal(prepared.pixels, load_rgb_array(data, 96))
        assert prepared.record["applied"] == [] and "disc-centred" in prepared.record["decision"]


def test_auto_crops_full_field_photographs_around_the_disc():
    image, truth, _ = full_field_set()[1]
    prepared = prepare_image(jpeg_bytes(image), 96, AUTO)
    record = prepared.record
    assert record["applied"] == ["disc_crop"] and prepared.pixels.shape == (96, 96, 3)
    left, top, right, bottom = record["crop_box"]
    assert right - left == pytest.approx(AUTO.disc_crop_scale * record["disc"]["diameter"], rel=1e-3)
    # the true disc centre is near the middle of the crop, and the crop's middle is bright
    cx = (truth["disc_center_x_px"] - left) / (right - left)
    cy = (truth["disc_center_y_px"] - top) / (bottom - top)
    assert abs(cx - 0.5) < 0.2 and abs(cy - 0.5) < 0.2
    centre = prepared.pixels[40:56, 40:56].astype(float).mean()
    assert centre > prepared.pixels.astype(float).mean() * 1.15
    assert set(record["seconds"]) >= {"decode", "field_of_view", "optic_disc", "crop"}


def test_field_of_view_crops_to_the_circle_and_blacks_out_the_rest():
    image, truth, _ = full_field_set()[2]
    prepared = prepare_image(jpeg_bytes(image), 80, PreparationSettings(field_of_view=True))
    px = prepared.pixels.astype(int)
    assert px[:3, :3].max() == 0 and px[-3:, -3:].max() == 0  # corners outside the circle: 0
    assert px[35:45, 35:45].mean() > 40  # the field fills the square
    assert prepared.record["applied"] == ["field_of_view"]
    assert abs(prepared.record["field"]["radius"] - truth["field_radius_px"]) < 0.05 * truth["field_radius_px"]


def test_steps_in_fixed_order_and_illumination_after_the_crop():
    image, _, _ = full_field_set()[3]
    settings = PreparationSettings(field_of_view=True, disc_crop="on", illumination="clahe", resolution=48)
    prepared = prepare_image(jpeg_bytes(image), 64, settings)
    assert prepared.record["applied"] == ["field_of_view", "disc_crop", "resolution:48", "illumination:clahe"]


def test_cache_key_names_the_version_and_settings_and_the_cache_is_used():
    settings = PreparationSettings(disc_crop="auto", illumination="graham")
    key = cache_key("abc", 64, settings)
    assert PREPARATION_VERSION in key[2] and "graham" in key[2]
    assert cache_key("abc", 64, PreparationSettings()) == ("abc", 64)  # unprepared: today's key
    assert cache_key("abc", 64, PreparationSettings(disc_crop="on")) != cache_key("abc", 64, settings)
    data = jpeg_bytes(full_field_set()[4][0])
    cache = DecodedImageCache()
    first, record = load_prepared_array(data, 64, settings, cache=cache, with_record=True)
    again = load_prepared_array(data, 64, settings, cache=cache)
    assert again is first and cache.hits == 1 and record["settings"]["illumination"] == "graham"


def test_settings_from_configs_and_bad_input():
    from glaucoma_core.config import get_preset

    assert PreparationSettings.from_config({}) == PreparationSettings()  # an older stored config
    stored = {"prepare_disc_crop": "auto", "prepare_disc_crop_scale": 3, "resolution_normalisation": 128}
    assert PreparationSettings.from_config(stored) == PreparationSettings(disc_crop="auto", disc_crop_scale=3.0,
                                                                          resolution=128)
    assert PreparationSettings.from_config(get_preset("cpu-transfer")).disc_crop == "auto"
    with pytest.raises(ValueError):
        PreparationSettings(disc_crop="sometimes")
    with pytest.raises(ImageProblem):
        load_prepared_array(b"not an image", 64, AUTO)


def test_config_declares_the_same_choices_as_the_preparation_package():
    from glaucoma_core import config
    from glaucoma_core.preparation import settings

    assert config.DISC_CROP_MODES == settings.DISC_CROP_MODES
    assert config.ILLUMINATION_METHODS == settings.ILLUMINATION_METHODS
    assert config.TrainConfig().prepare_disc_crop == "off"  # older stored configs: no preparation
    assert all(p.prepare_disc_crop == "auto" for p in config.PRESETS.values())


def test_detections_are_kept_per_content_and_give_the_same_pixels(isolated_home):
    import hashlib

    data = jpeg_bytes(full_field_set()[5][0])
    sha = hashlib.sha256(data).hexdigest()
    first = prepare_image(data, 64, AUTO, sha256=sha)
    assert not first.record["detections_reused"]
    assert list((isolated_home / "cache" / "preparation").rglob(f"{sha}.json"))
    again = prepare_image(data, 64, AUTO, sha256=sha)  # as a later process would
    assert again.record["detections_reused"] and "optic_disc" in again.record["seconds"]
    assert np.array_equal(first.pixels, again.pixels) and first.record["crop_box"] == again.record["crop_box"]
    # another settings of the same content reuses the same detections
    other = prepare_image(data, 64, PreparationSettings(disc_crop="on", illumination="graham"), sha256=sha)
    assert other.record["detections_reused"]
