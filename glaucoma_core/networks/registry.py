"""A registry of backbones, filled by a decorator and listed by pattern (timm-style).

A backbone is registered with what the rest of the workbench needs to know about it:
its default and smallest input size, the preprocessing it expects, and the name of its
last convolutional layer (Grad-CAM reads that layer). Importing this module does not
import TensorFlow; the constructors import Keras when they are called.

    @register_backbone("xception", size=299, min_size=71, preprocess="tf",
                       last_conv_layer="block14_sepconv2_act")
    def xception(input_tensor, weights, **options): ...
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class BackboneSpec:
    """What the registry knows about one backbone.

    Attributes:
        name: registry name (lower case), e.g. ``"mobilenetv2"``.
        constructor: ``constructor(input_tensor, weights, **options) -> keras.Model`` building
            the backbone on ``input_tensor`` (so its layers join the caller's graph) and
            loading ``weights`` (``"imagenet"``, ``None`` or a file path).
        size: default (native) input size in pixels.
        min_size: smallest input size the backbone accepts.
        preprocess: mode of :class:`~glaucoma_core.networks.preprocessing.ImagePreprocessing`.
        last_conv_layer: name of the last convolutional feature map (for Grad-CAM).
        imagenet: whether ImageNet weights exist for it.
        options: default keyword options of the constructor (e.g. ``{"alpha": 1.0}``).
        description: one line for listings.
    """

    name: str
    constructor: Callable
    size: int
    min_size: int
    preprocess: str
    last_conv_layer: str
    imagenet: bool = True
    options: dict = field(default_factory=dict)
    description: str = ""


_REGISTRY: dict[str, BackboneSpec] = {}


def register_backbone(
    name: str,
    *,
    size: int,
    min_size: int,
    preprocess: str,
    last_conv_layer: str,
    imagenet: bool = True,
    options: dict | None = None,
    description: str = "",
):
    """Decorator registering a backbone constructor under ``name`` (see :class:`BackboneSpec`)."""

    def decorate(constructor: Callable) -> Callable:
        key = name.lower()
        if key in _REGISTRY:
            raise ValueError(f"backbone {key!r} is already registered")
        _REGISTRY[key] = BackboneSpec(
            name=key,
            constructor=constructor,
            size=size,
            min_size=min_size,
            preprocess=preprocess,
            last_conv_layer=last_conv_layer,
            imagenet=imagenet,
            options=dict(options or {}),
            description=description or (constructor.__doc__ or "").strip().splitlines()[0],
        )
        return constructor

    return decorate


def _ensure_builtin() -> None:
    # The built-in backbones register themselves when their modules are imported.
    from glaucoma_core.networks import backbones, small_cnn  # noqa: F401


def get_backbone(name: str) -> BackboneSpec:
    """The spec of backbone ``name`` (case-insensitive); KeyError listing the known names."""
    _ensure_builtin()
    try:
        return _REGISTRY[str(name).lower()]
    except KeyError:
        raise KeyError(f"unknown backbone {name!r}; known: {', '.join(sorted(_REGISTRY))}") from None


def list_backbones(pattern: str = "*") -> list[str]:
    """Registered backbone names matching a shell-style ``pattern``, sorted."""
    _ensure_builtin()
    return sorted(n for n in _REGISTRY if fnmatch.fnmatch(n, pattern.lower()))


def last_conv_layer_name(model) -> str:
    """Name of the last 4-D (convolutional) feature map in a classifier built here.

    Works on any flat functional model: the last layer, walking backwards from the
    output, whose output is a 4-D tensor (batch, height, width, channels).
    """
    for layer in reversed(model.layers):
        shape = getattr(layer, "output", None)
        shape = getattr(shape, "shape", None)
        if shape is not None and len(shape) == 4 and layer.__class__.__name__ != "InputLayer":
            if layer.__class__.__name__ != "ImagePreprocessing":
                return layer.name
    raise ValueError("the model has no convolutional feature map")
