"""Grad-CAM on small classifiers that follow the saved-model contract."""

from __future__ import annotations

import numpy as np
import pytest

from glaucoma_core.evaluation import gradcam


def _tiny_classifier(size=32, seed=0):
    """Input 0..255 -> Rescaling -> conv -> conv 'last_conv' -> GAP 'pooling' -> 'logits' -> softmax."""
    import keras
    from keras import layers

    keras.utils.set_random_seed(seed)
    inputs = keras.Input((size, size, 3), dtype="float32", name="image")
    x = layers.Rescaling(1 / 255.0, name="preprocessing")(inputs)
    x = layers.Conv2D(4, 3, padding="same", activation="relu", name="conv1")(x)
    x = layers.Conv2D(6, 3, padding="same", activation="relu", name="last_conv")(x)
    x = layers.GlobalAveragePooling2D(name="pooling")(x)
    x = layers.Dense(2, dtype="float32", name="logits")(x)
    outputs = layers.Activation("softmax", dtype="float32", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="tiny")


@pytest.fixture(scope="module")
def tiny():
    return _tiny_classifier()


def _images(n=3, size=32, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


def test_finds_last_conv_layer(tiny):
    assert gradcam.find_last_conv_layer(tiny) == "last_conv"


def test_equals_cam_for_gap_then_linear_head(tiny):
    """With conv -> global average pooling -> Dense, the Grad-CAM weights are the Dense weights
    of the glaucoma column divided by h*w, so the map is ReLU(sum_k w_k1 A_k) up to scale."""
    import keras

    images = _images()
    heat = gradcam.gradcam_heatmaps(tiny, images, resize=False, batch_size=2)
    features = keras.Model(tiny.inputs[0], tiny.get_layer("last_conv").output)(images.astype("float32")).numpy()
    w = tiny.get_layer("logits").get_weights()[0][:, 1]
    cam = np.maximum(np.tensordot(features, w, axes=([3], [0])), 0)
    cam = cam / cam.reshape(len(cam), -1).max(axis=1)[:, None, None]
    np.testing.assert_allclose(heat, cam, atol=1e-5)
    difference = gradcam.gradcam_heatmaps(tiny, images, resize=False, target="logit_difference")
    w_diff = tiny.get_layer("logits").get_weights()[0] @ np.array([-1.0, 1.0])
    cam_diff = np.maximum(np.tensordot(features, w_diff, axes=([3], [0])), 0)
    peak = cam_diff.reshape(len(cam_diff), -1).max(axis=1)[:, None, None]
    np.testing.assert_allclose(difference, np.where(peak > 0, cam_diff / np.maximum(peak, 1e-12), 0), atol=1e-5)


def test_batched_maps_resized_and_overlays(tiny):
    images = _images(5)
    maps = gradcam.gradcam_heatmaps(tiny, images, batch_size=2)
    assert maps.shape == (5, 32, 32) and maps.dtype == np.float32
    assert maps.min() >= 0 and maps.max() <= 1
    one = gradcam.gradcam_heatmaps(tiny, images[3])
    np.testing.assert_allclose(one[0], maps[3], atol=1e-5)
    big = np.random.default_rng(1).integers(0, 256, (50, 70, 3), dtype=np.uint8)
    overlay = gradcam.gradcam_overlay(tiny, big)
    assert overlay.shape == (50, 70, 3) and overlay.dtype == np.uint8
    gallery = gradcam.gradcam_overlays(tiny, [big, images[0]], batch_size=1)
    assert [g.shape for g in gallery] == [(50, 70, 3), (32, 32, 3)]


def test_colormap_and_overlay():
    colours = gradcam.jet_colormap(np.array([0.0, 0.5, 1.0]))
    assert colours.dtype == np.uint8
    assert colours[0, 2] > 100 and colours[0, 0] == 0  # blue at 0
    assert colours[2, 0] > 100 and colours[2, 2] == 0  # red at 1
    image = np.full((4, 4, 3), 100, np.uint8)
    assert np.array_equal(gradcam.overlay_heatmap(image, np.zeros((2, 2)), alpha=0.0), image)
    with pytest.raises(ValueError, match="RGB"):
        gradcam.overlay_heatmap(np.zeros((4, 4)), np.zeros((2, 2)))


def test_errors_are_clear(tiny):
    import keras

    inputs = keras.Input((8,))
    flat = keras.Model(inputs, keras.layers.Dense(2, name="logits")(inputs))
    with pytest.raises(ValueError, match="4-D"):
        gradcam.find_last_conv_layer(flat)
    with pytest.raises(ValueError, match="target"):
        gradcam.gradcam_heatmaps(tiny, _images(1), target="softmax")
    with pytest.raises(ValueError, match="RGB"):
        gradcam.gradcam_heatmaps(tiny, np.zeros((1, 32, 32)))


def test_mixed_precision_model():
    import keras

    try:
        keras.mixed_precision.set_global_policy("mixed_float16")
        model = _tiny_classifier(seed=3)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert model.get_layer("last_conv").compute_dtype == "float16"
    maps = gradcam.gradcam_heatmaps(model, _images(2))
    assert maps.dtype == np.float32 and np.all(np.isfinite(maps)) and maps.max() <= 1.0
