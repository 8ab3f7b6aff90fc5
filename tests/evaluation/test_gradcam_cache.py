"""Grad-CAM's compiled-function cache: one entry per (model, layer, target), reused across
calls and batch sizes, never shared between models, dropped with its model."""

from __future__ import annotations

import gc
import weakref

import numpy as np

from glaucoma_core.evaluation import gradcam


def _tiny_classifier(seed):
    """Input 0..255 -> Rescaling -> conv 'last_conv' -> GAP -> Dense(2) 'logits' -> softmax."""
    import keras
    from keras import layers

    keras.utils.set_random_seed(seed)
    inputs = keras.Input((16, 16, 3), dtype="float32")
    x = layers.Rescaling(1 / 255.0)(inputs)
    x = layers.Conv2D(5, 3, padding="same", activation="relu", name="last_conv")(x)
    x = layers.GlobalAveragePooling2D(name="pooling")(x)
    x = layers.Dense(2, dtype="float32", name="logits")(x)
    return keras.Model(inputs, layers.Activation("softmax", name="probabilities")(x))


def _expected_cams(model, images):
    """CAM for conv -> GAP -> Dense: ReLU(sum_k w_k1 A_k), each map divided by its maximum
    (all zeros where nothing raises the glaucoma logit)."""
    import keras

    features = keras.Model(model.inputs[0], model.get_layer("last_conv").output)(images.astype("float32")).numpy()
    cam = np.maximum(np.tensordot(features, model.get_layer("logits").get_weights()[0][:, 1], axes=([3], [0])), 0)
    peak = cam.reshape(len(cam), -1).max(axis=1)[:, None, None]
    return np.where(peak > 0, cam / np.maximum(peak, 1e-12), 0.0)


def _images(n, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, 16, 16, 3), dtype=np.uint8)


def test_second_call_reuses_the_compiled_function_for_any_batch_size():
    model = _tiny_classifier(seed=0)
    images = _images(5)
    first = gradcam.gradcam_heatmaps(model, images, resize=False, batch_size=2)  # batches of 2, 2, 1
    assert first.max() == 1.0
    assert list(gradcam._CACHE[model]) == [("last_conv", "glaucoma_logit")]
    function = gradcam._CACHE[model][("last_conv", "glaucoma_logit")]
    second = gradcam.gradcam_heatmaps(model, images, resize=False, batch_size=3)  # batches of 3, 2
    one = gradcam.gradcam_heatmaps(model, images[4], resize=False)
    assert gradcam._CACHE[model] == {("last_conv", "glaucoma_logit"): function}
    assert function.experimental_get_tracing_count() == 1  # no retrace for a new batch size
    np.testing.assert_array_equal(first, second)
    np.testing.assert_allclose(one[0], first[4], atol=1e-6)
    np.testing.assert_allclose(first, _expected_cams(model, images), atol=1e-5)
    gradcam.gradcam_heatmaps(model, images, resize=False, target="logit_difference")
    assert set(gradcam._CACHE[model]) == {("last_conv", "glaucoma_logit"), ("last_conv", "logit_difference")}


def test_two_models_get_their_own_entries_and_their_own_maps():
    first, second = _tiny_classifier(seed=1), _tiny_classifier(seed=2)
    images = _images(3, seed=1)
    maps_first = gradcam.gradcam_heatmaps(first, images, resize=False)
    maps_second = gradcam.gradcam_heatmaps(second, images, resize=False)
    key = ("last_conv", "glaucoma_logit")
    assert gradcam._CACHE[first][key] is not gradcam._CACHE[second][key]
    np.testing.assert_allclose(maps_first, _expected_cams(first, images), atol=1e-5)
    np.testing.assert_allclose(maps_second, _expected_cams(second, images), atol=1e-5)
    assert not np.allclose(maps_first, maps_second)


def test_entry_goes_with_its_model_so_a_new_model_never_sees_a_stale_one():
    model = _tiny_classifier(seed=3)
    gradcam.gradcam_heatmaps(model, _images(1))
    alive = weakref.ref(model)
    assert model in gradcam._CACHE
    del model
    gc.collect()
    assert alive() is None  # the cached function does not keep the model alive
    assert all(key is not None for key in gradcam._CACHE.keys())
    replacement = _tiny_classifier(seed=4)  # may reuse the old id(); must still start empty
    assert replacement not in gradcam._CACHE
    images = _images(2, seed=4)
    np.testing.assert_allclose(gradcam.gradcam_heatmaps(replacement, images, resize=False),
                               _expected_cams(replacement, images), atol=1e-5)
