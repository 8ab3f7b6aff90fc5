"""Which preparation steps a configuration asks for, as one small hashable value.

Built from a :class:`~glaucoma_core.config.TrainConfig`, a stored config dict or nothing
(:meth:`PreparationSettings.from_config`), so every path reads the same fields the same way;
:meth:`PreparationSettings.key` names the settings in cache keys, with PREPARATION_VERSION.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

#: Bumped whenever the same settings would give different pixels (part of every cache key).
#: prep-2: the disc outline (edge drop rule, fitted circle: centre and diameter) and the
#: disc-centred threshold changed.
PREPARATION_VERSION = "prep-2"

DISC_CROP_MODES = ("off", "auto", "on")
ILLUMINATION_METHODS = ("none", "graham", "clahe")
DEFAULT_DISC_CROP_SCALE = 2.5


@dataclass(frozen=True)
class PreparationSettings:
    """The preparation of one configuration.

    Attributes:
        field_of_view: crop to the camera's circular field and black out what is outside it.
        disc_crop: 'off'; 'auto' (crop around the optic disc when the image is a full-field
            photograph whose disc was found with confidence, leave disc-centred images alone);
            'on' (always crop around the best disc candidate).
        disc_crop_scale: side of the disc crop in estimated disc diameters.
        illumination: 'none', 'graham' (local mean subtraction) or 'clahe' (on lightness).
        resolution: effective resolution (side in pixels) every image is brought to before the
            network's resize (the config's ``resolution_normalisation``; None = off).
    """

    field_of_view: bool = False
    disc_crop: str = "off"
    disc_crop_scale: float = DEFAULT_DISC_CROP_SCALE
    illumination: str = "none"
    resolution: int | None = None

    def __post_init__(self):
        if self.disc_crop not in DISC_CROP_MODES:
            raise ValueError(f"disc_crop must be one of {', '.join(DISC_CROP_MODES)}, got {self.disc_crop!r}")
        if self.illumination not in ILLUMINATION_METHODS:
            raise ValueError(f"illumination must be one of {', '.join(ILLUMINATION_METHODS)}, got {self.illumination!r}")
        if not 1.0 <= float(self.disc_crop_scale) <= 10.0:
            raise ValueError(f"disc_crop_scale must be in [1, 10] disc diameters, got {self.disc_crop_scale}")

    @property
    def prepares(self) -> bool:
        """True when any fundus preparation step is on (resolution normalisation aside)."""
        return self.field_of_view or self.disc_crop != "off" or self.illumination != "none"

    @property
    def active(self) -> bool:
        """True when the pixels differ from a plain decode-and-resize."""
        return self.prepares or bool(self.resolution)

    def key(self) -> str:
        """A short stable name of these settings for cache keys ('' when nothing is on)."""
        if not self.active:
            return ""
        parts = []
        if self.prepares:
            parts.append(PREPARATION_VERSION)
            parts.append(f"fov={int(self.field_of_view)}")
            if self.disc_crop != "off":
                parts.append(f"crop={self.disc_crop}:{float(self.disc_crop_scale):g}")
            if self.illumination != "none":
                parts.append(f"light={self.illumination}")
        if self.resolution:
            parts.append(f"res={int(self.resolution)}")
        return ";".join(parts)

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_config(cls, config: Any = None) -> PreparationSettings:
        """The settings of a TrainConfig, a config dict (as stored with a run) or None (none).

        Fields missing from an older stored config mean 'off' (what that model was trained with).
        """
        if config is None:
            return cls()
        if isinstance(config, PreparationSettings):
            return config
        get = config.get if isinstance(config, dict) else (lambda name, default=None: getattr(config, name, default))
        resolution = get("resolution_normalisation", None)
        return cls(
            field_of_view=bool(get("prepare_field_of_view", False)),
            disc_crop=str(get("prepare_disc_crop", "off") or "off"),
            disc_crop_scale=float(get("prepare_disc_crop_scale", DEFAULT_DISC_CROP_SCALE) or DEFAULT_DISC_CROP_SCALE),
            illumination=str(get("prepare_illumination", "none") or "none"),
            resolution=int(resolution) if resolution else None,
        )
