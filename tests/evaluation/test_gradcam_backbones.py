"""Grad-CAM on the classifiers the training core builds (registered backbones, no weights)."""

from __future__ import annotations

import numpy as np
import pytest

from glaucoma_core.evaluation import gradcam


def _classifier(backbone, size, **overrides):
    from glaucoma_core.config import get_preset
    from glaucoma_core.networks.classifier import build_classifier

    settings = {"backbone": backbone, "input_size": size, "weights": "none", "mixed_precision": "off", **overrides}
    config = get_preset("cpu-small").with_overrides(settings)
    return build_classifier(config)


@pytest.mark.parametrize("backbone,size", [("small_cnn", 32), pytest.param("mobilenetv2", 64, marks=pytest.mark.slow)])
def test_registered_backbone_layer_and_maps(backbone, size):
    from glaucoma_core.networks.registry import get_backbone

    model = _classifier(backbone, size)
    assert gradcam.find_last_conv_layer(model) == get_backbone(backbone).last_conv_layer
    images = np.random.default_rng(0).integers(0, 256, (3, size, size, 3), dtype=np.uint8)
    maps = gradcam.gradcam_heatmaps(model, images, batch_size=2)
    assert maps.shape == (3, size, size) and np.all(np.isfinite(maps))
    assert maps.min() >= 0 and maps.max() <= 1


def test_saved_and_safely_loaded_model_under_mixed_precision(tmp_path):
    import keras

    from glaucoma_core.store import RunStore

    try:
        keras.mixed_precision.set_global_policy("mixed_float16")
        model = _classifier("small_cnn", 32)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert model.get_layer("last_conv_relu").compute_dtype == "float16"
    store = RunStore(tmp_path)
    run = store.create_run(None, 1, {}, None)
    store.save_model(run, model)
    loaded = store.load_model(run)  # safe_mode=True
    image = np.random.default_rng(1).integers(0, 256, (45, 50, 3), dtype=np.uint8)
    overlay = gradcam.gradcam_overlay(loaded, image)
    assert overlay.shape == (45, 50, 3) and overlay.dtype == np.uint8


def test_paste_into_box_places_the_map_and_clips_at_the_edges():
    heat = np.ones((4, 4), dtype=np.float32)
    full = gradcam.paste_into_box(heat, (0.25, 0.5, 0.75, 1.25), (8, 8))
    assert full.shape == (8, 8)
    assert np.all(full[2:6, 4:8] == 1.0)
    assert full[:2].sum() == 0 and full[6:].sum() == 0 and full[:, :4].sum() == 0


def test_disc_crop_model_maps_land_inside_the_crop_around_the_disc():
    model = _classifier("small_cnn", 128)  # cpu-small: the disc crop is inside the model
    assert any(layer.__class__.__name__ == "DiscCrop" for layer in model.layers)
    image = np.full((128, 128, 3), 60, dtype=np.uint8)
    image[90:110, 20:40] = 255  # the bright "disc", lower left
    maps = gradcam.gradcam_heatmaps(model, image[None])
    assert maps.shape == (1, 128, 128)
    rows, cols = np.nonzero(maps[0])
    assert rows.size > 0  # the seeded network raises the logit somewhere
    half = 0.3 * 128 / 2 + 2  # the crop window is 0.3 of the side, centred on the disc
    assert rows.min() >= 100 - half and rows.max() <= 100 + half
    assert cols.min() >= 30 - half and cols.max() <= 30 + half
