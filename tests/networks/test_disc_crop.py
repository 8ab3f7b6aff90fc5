"""DiscCrop finds the brightest region, crops around it, and survives a safe-mode round trip."""

from __future__ import annotations

import keras
import numpy as np

from glaucoma_core.config import TrainConfig
from glaucoma_core.networks.classifier import build_classifier
from glaucoma_core.networks.disc_crop import DiscCrop


def _image(cy: int, cx: int, size: int = 128) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size]
    image = np.full((size, size, 3), 60.0, np.float32)
    image[np.hypot(yy - cy, xx - cx) < 10] = 250.0
    image[5:7, 5:7] = 255.0  # a bright speck the blur must ignore
    return image


def test_crop_is_centred_on_the_bright_disc():
    images = np.stack([_image(30, 90), _image(100, 20)])
    layer = DiscCrop(window=0.4, output_size=32)
    crops = np.asarray(layer(images))
    boxes = np.asarray(layer.crop_boxes(images))
    np.testing.assert_allclose(boxes[0], [30 / 128 - 0.2, 90 / 128 - 0.2, 30 / 128 + 0.2, 90 / 128 + 0.2], atol=0.04)
    assert crops.shape == (2, 32, 32, 3)
    for crop in crops:
        bright = np.argwhere(crop[..., 0] > 200)
        centre = bright.mean(axis=0)
        assert np.all(np.abs(centre - 15.5) < 3), centre


def test_small_cnn_with_disc_crop_round_trips_in_safe_mode(tmp_path):
    config = TrainConfig(input_size=128, backbone_options={"filters": [4, 8], "disc_crop": 0.4, "crop_size": 32})
    model = build_classifier(config)
    assert model.get_layer("disc_crop").output.shape[1:3] == (32, 32)
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    x = np.stack([_image(40, 40), _image(90, 70)])
    np.testing.assert_allclose(np.asarray(loaded(x)), np.asarray(model(x)), rtol=1e-5, atol=1e-6)
