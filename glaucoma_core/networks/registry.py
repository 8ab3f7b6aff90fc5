"""A registry of backbones, listed by pattern (timm-style).

A backbone is registered with what the rest of the workbench needs to know about it (a
:class:`~glaucoma_core.networks.backbone_spec.BackboneSpec`): its default and smallest input
size, the preprocessing it expects, the name of its last convolutional layer (Grad-CAM reads
that layer) and its declared options. The built-in backbones (:mod:`.backbones`,
:mod:`.small_cnn`) mark their constructors with ``@backbone(...)`` and are registered here on
import; other code registers more with :func:`register_backbone`. Importing this module does
not import TensorFlow; the constructors import Keras when they are called.

    @register_backbone("xception", size=299, min_size=71, preprocess="tf",
                       last_conv_layer="block14_sepconv2_act")
    def xception(input_tensor, weights, **options): ...

Dependencies go one way: this package never imports :mod:`glaucoma_core.config`; the
configuration asks the registry.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable

from glaucoma_core.networks import backbones, small_cnn
from glaucoma_core.networks.backbone_spec import BackboneSpec, make_spec

__all__ = ["BackboneSpec", "get_backbone", "list_backbones", "register_backbone", "register_spec"]

_REGISTRY: dict[str, BackboneSpec] = {}


def register_spec(spec: BackboneSpec) -> BackboneSpec:
    """Add ``spec`` to the registry; ValueError when its name is taken."""
    if spec.name in _REGISTRY:
        raise ValueError(f"backbone {spec.name!r} is already registered")
    _REGISTRY[spec.name] = spec
    return spec


def register_backbone(name: str, **declaration):
    """Decorator registering a backbone constructor under ``name``.

    Keyword arguments as :func:`~glaucoma_core.networks.backbone_spec.make_spec`: ``size``,
    ``min_size``, ``preprocess``, ``last_conv_layer``, ``imagenet``, ``options`` (a sequence of
    :class:`~glaucoma_core.settings.Setting`), ``check``, ``description``.
    """

    def decorate(constructor: Callable) -> Callable:
        register_spec(make_spec(name, constructor, **declaration))
        return constructor

    return decorate


def _register_builtin() -> None:
    for module in (backbones, small_cnn):
        for value in vars(module).values():
            spec = getattr(value, "backbone_spec", None)
            if isinstance(spec, BackboneSpec) and getattr(value, "__module__", None) == module.__name__:
                register_spec(spec)


_register_builtin()


def get_backbone(name: str) -> BackboneSpec:
    """The spec of backbone ``name`` (case-insensitive); KeyError listing the known names."""
    try:
        return _REGISTRY[str(name).lower()]
    except KeyError:
        raise KeyError(f"unknown backbone {name!r}; known: {', '.join(sorted(_REGISTRY))}") from None


def list_backbones(pattern: str = "*") -> list[str]:
    """Registered backbone names matching a shell-style ``pattern``, sorted."""
    return sorted(n for n in _REGISTRY if fnmatch.fnmatch(n, pattern.lower()))
