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


def test_backbones_declare_their_options_as_settings():
    from glaucoma_core.settings import Setting

    for name in list_backbones():
        spec = get_backbone(name)
        assert all(isinstance(s, Setting) and s.help for s in spec.settings), name
        assert spec.options == {s.name: s.default for s in spec.settings}
    assert [s.name for s in get_backbone("small_cnn").settings] == ["filters", "convs_per_block", "disc_crop",
                                                                     "crop_size"]
    options = get_backbone("small_cnn").options
    options["filters"].append(1)  # a fresh copy: the declaration is not changed
    assert get_backbone("small_cnn").options["filters"] == [16, 32, 64, 96]


def test_a_backbone_validates_its_own_options_input_size_and_weights():
    from glaucoma_core.errors import ConfigError

    spec = get_backbone("small_cnn")
    spec.validate({"filters": [8, 16], "crop_size": 32}, input_size=64, weights="none")
    for options, field in [({"alpha": 1.0}, "backbone_options"), ({"crop_size": 8}, "backbone_options"),
                           ({"filters": [8, 0]}, "backbone_options"), ("filters", "backbone_options")]:
        with pytest.raises(ConfigError) as caught:
            spec.validate(options, input_size=None, weights="none")
        assert caught.value.field == field
    with pytest.raises(ConfigError) as caught:
        spec.validate({}, input_size=16, weights="none")
    assert caught.value.field == "input_size" and "32" in caught.value.message
    with pytest.raises(ConfigError) as caught:
        spec.validate({}, input_size=None, weights="imagenet")
    assert caught.value.field == "weights"
    assert spec.coerce_options({"crop_size": "48", "unknown": "x"}) == {"crop_size": 48, "unknown": "x"}


def test_register_backbone_takes_declared_options_and_a_check(monkeypatch):
    from glaucoma_core.errors import ConfigError
    from glaucoma_core.settings import Setting

    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))

    @register_backbone("tiny_opts_net", size=40, min_size=8, preprocess="unit", last_conv_layer="c", imagenet=False,
                       options=[Setting("depth", "int", 2, low=1, high=4, help="Blocks.")],
                       check=lambda options, weights: "depth 3 is unlucky" if options["depth"] == 3 else None)
    def tiny(input_tensor, weights, depth=2):
        """A test network with an option."""

    spec = get_backbone("tiny_opts_net")
    assert spec.options == {"depth": 2}
    spec.validate({"depth": 4}, input_size=None, weights="none")
    for depth in (3, 5):
        with pytest.raises(ConfigError):
            spec.validate({"depth": depth}, input_size=None, weights="none")
    with pytest.raises(TypeError):
        register_backbone("tiny_bad_net", size=40, min_size=8, preprocess="unit", last_conv_layer="c",
                          options={"depth": 2})(tiny)
    with pytest.raises(ValueError, match="default"):
        register_backbone("tiny_bad_default", size=40, min_size=8, preprocess="unit", last_conv_layer="c",
                          options=[Setting("depth", "int", 9, low=1, high=4)])(tiny)
