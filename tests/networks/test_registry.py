"""Backbone registry: decorator registration, listing by pattern, specs of the built-ins."""

from __future__ import annotations

import pytest

from glaucoma_core.networks import registry
from glaucoma_core.networks.registry import get_backbone, list_backbones, register_backbone

REQUIRED = ["vgg16", "vgg19", "inceptionv3", "resnet50", "xception", "mobilenetv2", "efficientnetb0", "small_cnn"]


def test_required_backbones_are_registered():
    assert set(REQUIRED) <= set(list_backbones())
    native = {"vgg16": 224, "vgg19": 224, "inceptionv3": 299, "resnet50": 224, "xception": 299}
    for name, size in native.items():
        assert get_backbone(name).size == size


def test_listing_by_pattern():
    assert list_backbones("vgg*") == ["vgg16", "vgg19"]
    assert list_backbones("nothing*") == []


def test_unknown_backbone_lists_the_known_ones():
    with pytest.raises(KeyError, match="vgg16"):
        get_backbone("alexnet")


def test_decorator_registers_and_refuses_duplicates(monkeypatch):
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))

    @register_backbone("tiny_test_net", size=40, min_size=8, preprocess="unit", last_conv_layer="c", imagenet=False)
    def tiny(input_tensor, weights):
        """A test network."""

    spec = get_backbone("TINY_TEST_NET")
    assert spec.constructor is tiny and spec.size == 40 and spec.description == "A test network."
    with pytest.raises(ValueError, match="already registered"):
        register_backbone("tiny_test_net", size=1, min_size=1, preprocess="unit", last_conv_layer="c")(tiny)


def test_mobilenet_alpha_is_an_option():
    assert get_backbone("mobilenetv2").options == {"alpha": 1.0}
