"""The saved-model contract: raw pixels in, in-graph preprocessing, flat graph, float32 head."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from glaucoma_core.config import TrainConfig
from glaucoma_core.evaluation.gradcam import find_last_conv_layer
from glaucoma_core.networks.classifier import backbone_layers_of, build_classifier
from glaucoma_core.networks.preprocessing import ImagePreprocessing
from glaucoma_core.networks.registry import get_backbone
from glaucoma_core.training.device import dtype_policy


def _small(**kwargs) -> TrainConfig:
    return TrainConfig(backbone="small_cnn", input_size=48, weights="none",
                       backbone_options={"filters": [8, 16]}, **kwargs)


def _mobilenet(tmp_path, **kwargs) -> TrainConfig:
    base = keras.applications.MobileNetV2(include_top=False, weights=None, alpha=0.35, input_shape=(64, 64, 3))
    path = tmp_path / "mobilenet.weights.h5"
    base.save_weights(path)
    return TrainConfig(backbone="mobilenetv2", backbone_options={"alpha": 0.35}, input_size=64,
                       weights=str(path), **kwargs)


def test_contract_layers_and_dtypes():
    model = build_classifier(_small())
    assert model.input_shape == (None, 48, 48, 3)
    assert isinstance(model.get_layer("preprocessing"), ImagePreprocessing)
    assert model.get_layer("logits").dtype_policy.compute_dtype == "float32"
    assert model.get_layer("probabilities").dtype_policy.compute_dtype == "float32"
    assert model.output_shape == (None, 2)
    out = np.asarray(model(np.full((3, 48, 48, 3), 128.0, np.float32)))
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-5)


def test_graph_is_flat_and_reaches_the_last_conv_layer(tmp_path):
    for config in (_small(), _mobilenet(tmp_path, trainable="head")):
        model = build_classifier(config)
        assert not any(isinstance(layer, keras.Model) for layer in model.layers)
        name = get_backbone(config.backbone).last_conv_layer
        assert len(model.get_layer(name).output.shape) == 4
        assert find_last_conv_layer(model) == name


def test_saved_model_loads_in_safe_mode_with_same_outputs(tmp_path):
    model = build_classifier(_small())
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    x = np.random.default_rng(0).uniform(0, 255, (2, 48, 48, 3)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(loaded(x)), np.asarray(model(x)), rtol=1e-5, atol=1e-6)


def test_frozen_backbone_keeps_batchnorm_in_inference_mode(tmp_path):
    model = build_classifier(_mobilenet(tmp_path, trainable="head"))
    backbone = backbone_layers_of(model)
    assert backbone and not any(layer.trainable_weights for layer in backbone)
    assert {w.path.split("/")[0] for w in model.trainable_weights} == {"logits"}
    x = np.random.default_rng(0).uniform(0, 255, (4, 64, 64, 3)).astype(np.float32)
    # Frozen BN uses moving statistics even with training=True: dropout aside, same output.
    features = keras.Model(model.inputs, model.get_layer("pooling").output)
    np.testing.assert_allclose(np.asarray(features(x, training=True)), np.asarray(features(x, training=False)),
                               rtol=1e-4, atol=1e-5)


def test_last_n_unfreezes_only_the_last_layers_except_batchnorm(tmp_path):
    model = build_classifier(_mobilenet(tmp_path, trainable="last_n", trainable_layers=10))
    backbone = backbone_layers_of(model)
    trainable = [layer for layer in backbone if layer.trainable]
    assert trainable and all(layer in backbone[-10:] for layer in trainable)
    assert not any(isinstance(layer, keras.layers.BatchNormalization) for layer in trainable)


@pytest.mark.parametrize("mode", ["caffe", "tf", "torch", "unit", "none"])
def test_preprocessing_matches_keras_applications(mode):
    x = np.random.default_rng(1).uniform(0, 255, (2, 8, 8, 3)).astype(np.float32)
    ours = np.asarray(ImagePreprocessing(mode)(x))
    if mode in ("caffe", "tf", "torch"):
        from keras.src.applications.imagenet_utils import preprocess_input

        expected = preprocess_input(x.copy(), mode=mode)
    else:
        expected = x / 255.0 if mode == "unit" else x
    np.testing.assert_allclose(ours, expected, rtol=1e-5, atol=1e-4)


def test_mixed_precision_build_keeps_a_float32_head():
    with dtype_policy("mixed_float16"):
        model = build_classifier(_small())
    assert model.get_layer("block1_conv1").dtype_policy.compute_dtype == "float16"
    assert model.get_layer("logits").dtype_policy.compute_dtype == "float32"
    assert model.output.dtype == "float32"
