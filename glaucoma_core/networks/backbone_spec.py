"""What one backbone declares about itself: sizes, preprocessing, Grad-CAM layer, its options.

A backbone module marks each constructor with :func:`backbone`; the registry
(:mod:`glaucoma_core.networks.registry`) collects the marked constructors. The backbone's
options (MobileNetV2's ``alpha``, the small CNN's ``filters``...) are declared as
:class:`~glaucoma_core.settings.Setting` objects, like the configuration's fields, and
:meth:`BackboneSpec.validate` checks a configuration's options, input size and weights against
them: the configuration asks its backbone rather than knowing any option by name.

This module imports neither TensorFlow nor the rest of the networks package.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from glaucoma_core.errors import ConfigError
from glaucoma_core.settings import Setting

__all__ = ["BackboneSpec", "backbone", "make_spec"]


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
        settings: the declared options of the constructor (one :class:`Setting` each).
        check: an extra rule over all options at once:
            ``check(options, weights) -> None | "problem"`` (``options`` complete with defaults,
            ``weights`` as in the configuration), e.g. which widths have ImageNet weights.
        description: one line for listings.
    """

    name: str
    constructor: Callable
    size: int
    min_size: int
    preprocess: str
    last_conv_layer: str
    imagenet: bool = True
    settings: tuple[Setting, ...] = field(default_factory=tuple)
    check: Callable[[dict, str], str | None] | None = None
    description: str = ""

    @property
    def options(self) -> dict:
        """Default keyword options of the constructor (a fresh dict), e.g. ``{"alpha": 1.0}``."""
        return {s.name: _copy(s.default) for s in self.settings}

    def setting(self, option: str) -> Setting | None:
        """The declaration of ``option``, or None when this backbone has no such option."""
        return next((s for s in self.settings if s.name == option), None)

    def coerce_options(self, options: dict) -> dict:
        """``options`` with each known option read as its declared type (unknown ones untouched)."""
        out = {}
        for key, value in options.items():
            declared = self.setting(str(key))
            out[key] = declared.coerce(value) if declared else value
        return out

    def validate(self, options: Any, *, input_size: int | None, weights: str) -> None:
        """Raise ConfigError when these settings do not suit this backbone.

        Args:
            options: the configuration's ``backbone_options`` (a mapping; defaults fill the rest).
            input_size: the configuration's ``input_size`` (None = this backbone's default).
            weights: ``"imagenet"``, ``"none"`` or a path (only ImageNet availability is checked
                here; a file's contents are checked by :mod:`glaucoma_core.networks.weights`).
        """
        if not isinstance(options, dict):
            raise ConfigError("backbone_options", f"must be a mapping of option -> value, got {options!r}")
        unknown = sorted(str(k) for k in options if self.setting(str(k)) is None)
        if unknown:
            known = ", ".join(s.name for s in self.settings) or "none"
            raise ConfigError("backbone_options", f"{self.name} has no option {unknown[0]!r} (options: {known})")
        for declared in self.settings:
            if declared.name in options:
                problem = declared.problem(options[declared.name])
                if problem:
                    raise ConfigError("backbone_options", f"{declared.name} {problem}")
        if self.check is not None:
            problem = self.check({**self.options, **options}, str(weights))
            if problem:
                raise ConfigError("backbone_options", problem)
        if input_size is not None and input_size < self.min_size:
            raise ConfigError(
                "input_size",
                f"{input_size} px is too small for {self.name}: its downsampling needs at least "
                f"{self.min_size} px (default {self.size})",
            )
        if str(weights).lower() == "imagenet" and not self.imagenet:
            raise ConfigError("weights", f"{self.name} has no ImageNet weights; use weights=none or a file")

    def describe(self) -> dict:
        """This backbone as plain data (for listings): sizes, ImageNet, options declared."""
        return {
            "name": self.name,
            "description": self.description,
            "size": self.size,
            "min_size": self.min_size,
            "imagenet": self.imagenet,
            "options": [s.describe() for s in self.settings],
        }


def make_spec(
    name: str,
    constructor: Callable,
    *,
    size: int,
    min_size: int,
    preprocess: str,
    last_conv_layer: str,
    imagenet: bool = True,
    options: Sequence[Setting] = (),
    check: Callable[[dict, str], str | None] | None = None,
    description: str = "",
) -> BackboneSpec:
    """A :class:`BackboneSpec` for ``constructor``; options are :class:`Setting` declarations."""
    settings = tuple(options)
    for declared in settings:
        if not isinstance(declared, Setting) or not declared.name:
            raise TypeError(f"backbone {name!r}: each option must be a named Setting, got {declared!r}")
        problem = declared.problem(declared.default)
        if problem:
            raise ValueError(f"backbone {name!r}: default of option {declared.name!r} {problem}")
    return BackboneSpec(
        name=name.lower(),
        constructor=constructor,
        size=size,
        min_size=min_size,
        preprocess=preprocess,
        last_conv_layer=last_conv_layer,
        imagenet=imagenet,
        settings=settings,
        check=check,
        description=description or ((constructor.__doc__ or "").strip().splitlines() or [""])[0],
    )


def backbone(name: str, **declaration):
    """Decorator marking a constructor as backbone ``name`` (arguments as :func:`make_spec`).

    The constructor gets a ``backbone_spec`` attribute; the registry registers every marked
    constructor of the built-in backbone modules.
    """

    def mark(constructor: Callable) -> Callable:
        constructor.backbone_spec = make_spec(name, constructor, **declaration)
        return constructor

    return mark


def _copy(value: Any) -> Any:
    if isinstance(value, list):
        return list(value)
    if isinstance(value, dict):
        return dict(value)
    return value
