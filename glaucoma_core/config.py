"""TrainConfig: everything that decides how one model is trained, as one JSON-able dataclass.

A config is built from a preset (:func:`get_preset`), a JSON file (:meth:`TrainConfig.from_json`)
and ``--set key=value`` overrides (:meth:`TrainConfig.with_overrides`), then checked by
:meth:`TrainConfig.validate`, which raises :class:`ConfigError` naming the field at fault.
Importing this module does not import TensorFlow (only validating a weights *file* does).
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from glaucoma_core.errors import ConfigError

__all__ = ["ConfigError", "TrainConfig", "PRESETS", "get_preset", "preset_descriptions"]


TRAINABLE = ("head", "last_n", "all")
POOLING = ("avg", "max", "flatten")
OPTIMIZERS = ("adam", "adamw", "sgd")
SCHEDULES = ("constant", "cosine", "plateau")
LOSSES = ("categorical_crossentropy", "binary_crossentropy", "focal")
SWITCHES = ("auto", "on", "off")
MONITORS = ("val_loss", "val_auc", "val_accuracy", "val_f1", "val_sensitivity", "val_specificity",
            "loss", "auc", "accuracy", "f1")


@dataclass
class TrainConfig:
    """How to train one classifier. Field groups follow the prefixes of their names.

    Network: ``backbone`` (registry name), ``backbone_options`` (e.g. ``{"alpha": 0.35}``),
    ``input_size`` (pixels; None = the backbone's default), ``weights`` ('imagenet' | 'none' |
    path to a weights file), ``trainable`` ('head': backbone frozen | 'last_n': the last
    ``trainable_layers`` backbone layers | 'all'; frozen BatchNorm layers always run in inference
    mode). Head: ``head_pooling`` ('avg' | 'max' | 'flatten'), ``head_dropout``,
    ``head_dense_units`` (0 = no hidden layer). Optimiser: ``optimizer`` ('adam' | 'adamw' | 'sgd'),
    ``learning_rate``, ``momentum`` (SGD), ``weight_decay`` (AdamW), ``lr_schedule`` ('constant' |
    'cosine' with ``lr_warmup_epochs`` | 'plateau' with ``lr_plateau_factor``/``lr_plateau_patience``).
    Loop: ``batch_size``, ``epochs``, ``early_stopping`` with ``early_stopping_monitor``,
    ``early_stopping_patience``, ``early_stopping_restore_best``. Loss: ``loss``
    ('categorical_crossentropy' | 'binary_crossentropy' | 'focal' with ``focal_gamma``),
    ``class_weight`` (None | 'balanced' | {0: w0, 1: w1}). Augmentation (all off = none):
    ``augment_hflip``, ``augment_vflip``, ``augment_rotation`` (degrees), ``augment_zoom``
    (fraction), ``augment_brightness``, ``augment_contrast`` (fractions). Frozen fast path:
    ``feature_cache`` (use cached backbone features when nothing in the backbone trains and
    augmentation is off). Optional fine-tuning after a frozen phase: ``fine_tune_epochs``,
    ``fine_tune_layers`` (last backbone layers unfrozen), ``fine_tune_learning_rate``.
    Reproducibility and device: ``seed``, ``mixed_precision`` and ``xla`` ('auto' = on with a GPU).
    """

    backbone: str = "small_cnn"
    backbone_options: dict = field(default_factory=dict)
    input_size: int | None = None
    weights: str = "none"
    trainable: str = "all"
    trainable_layers: int = 0

    head_pooling: str = "avg"
    head_dropout: float = 0.2
    head_dense_units: int = 0

    optimizer: str = "adam"
    learning_rate: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 1e-4
    lr_schedule: str = "constant"
    lr_warmup_epochs: int = 0
    lr_plateau_factor: float = 0.5
    lr_plateau_patience: int = 3

    batch_size: int = 32
    epochs: int = 20
    early_stopping: bool = True
    early_stopping_monitor: str = "val_loss"
    early_stopping_patience: int = 5
    early_stopping_restore_best: bool = True

    loss: str = "categorical_crossentropy"
    focal_gamma: float = 2.0
    class_weight: Any = None

    augment_hflip: bool = False
    augment_vflip: bool = False
    augment_rotation: float = 0.0
    augment_zoom: float = 0.0
    augment_brightness: float = 0.0
    augment_contrast: float = 0.0

    feature_cache: bool = True
    fine_tune_epochs: int = 0
    fine_tune_layers: int = 0
    fine_tune_learning_rate: float = 1e-4

    seed: int = 0
    mixed_precision: str = "auto"
    xla: str = "auto"

    # ---- derived -----------------------------------------------------------------------

    def resolved_input_size(self) -> int:
        """The input size in pixels: ``input_size``, else the backbone's default."""
        if self.input_size is not None:
            return int(self.input_size)
        from glaucoma_core.networks.registry import get_backbone

        return get_backbone(self.backbone).size

    def resolved_backbone_options(self) -> dict:
        """The backbone's default options updated with ``backbone_options``."""
        from glaucoma_core.networks.registry import get_backbone

        return {**get_backbone(self.backbone).options, **(self.backbone_options or {})}

    @property
    def augmentation_on(self) -> bool:
        """True when any augmentation is enabled."""
        return bool(
            self.augment_hflip or self.augment_vflip or self.augment_rotation or self.augment_zoom
            or self.augment_brightness or self.augment_contrast
        )

    @property
    def backbone_frozen(self) -> bool:
        """True when no backbone weight trains in the main phase."""
        return self.trainable == "head" or (self.trainable == "last_n" and self.trainable_layers == 0)

    @property
    def uses_feature_cache(self) -> bool:
        """True when the main phase trains the head on cached backbone features."""
        return bool(self.feature_cache and self.backbone_frozen and not self.augmentation_on)

    def class_weight_map(self, labels) -> dict[int, float] | None:
        """Keras ``class_weight`` for these training labels (None, 'balanced' or a mapping)."""
        cw = self.class_weight
        if cw in (None, "", "none"):
            return None
        if cw == "balanced":
            labels = [int(v) for v in labels]
            n = len(labels)
            counts = {c: labels.count(c) for c in (0, 1)}
            return {c: (n / (2.0 * counts[c]) if counts[c] else 1.0) for c in (0, 1)}
        return {int(k): float(v) for k, v in dict(cw).items()}

    # ---- JSON in and out -----------------------------------------------------------------

    def to_dict(self) -> dict:
        """Plain dict (JSON-able) of every field."""
        return json.loads(json.dumps(dataclasses.asdict(self)))

    @classmethod
    def from_dict(cls, data: dict) -> TrainConfig:
        """Build from a dict; unknown keys raise ConfigError naming them."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ConfigError(unknown[0], f"unknown setting (known: {', '.join(sorted(names))})")
        config = cls()
        for key, value in data.items():
            setattr(config, key, _coerce(key, value, getattr(cls(), key)))
        return config

    def to_json(self, path: str | os.PathLike | None = None) -> str:
        """JSON text of the config; also written to ``path`` when given."""
        text = json.dumps(self.to_dict(), indent=2, sort_keys=True)
        if path is not None:
            Path(path).write_text(text + "\n", encoding="utf-8")
        return text

    @classmethod
    def from_json(cls, text_or_path: str | os.PathLike) -> TrainConfig:
        """Parse JSON text, or read a JSON file when given a path to one."""
        text = str(text_or_path)
        if not text.lstrip().startswith("{"):
            path = Path(text_or_path)
            try:
                text = path.read_text(encoding="utf-8")
            except OSError as error:
                raise ConfigError("config", f"cannot read {path}: {error.strerror or error}") from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise ConfigError("config", f"not valid JSON: {error}") from None
        if not isinstance(data, dict):
            raise ConfigError("config", "the JSON must be an object of settings")
        return cls.from_dict(data)

    def with_overrides(self, overrides: dict[str, Any]) -> TrainConfig:
        """A copy with ``{"key": "value"}`` overrides applied (CLI ``--set key=value``).

        Keys are field names; dots may stand for underscores (``head.dropout``), and
        ``backbone_options.alpha`` sets one backbone option. String values are parsed to the
        field's type ("true", "1e-4", "none", JSON for mappings).
        """
        data = self.to_dict()
        names = set(data)
        dotted_options: dict[str, Any] = {}
        whole_options_given = False
        for raw_key, value in overrides.items():
            key = str(raw_key).strip()
            if key.startswith("backbone_options.") or key.startswith("backbone.options."):
                option = key.split(".")[-1]
                dotted_options[option] = _parse_scalar(value)
                data["backbone_options"] = {**data["backbone_options"], option: dotted_options[option]}
                continue
            flat = key.replace(".", "_").replace("-", "_")
            if flat not in names:
                raise ConfigError(key, f"unknown setting (known: {', '.join(sorted(names))})")
            data[flat] = value
            whole_options_given = whole_options_given or flat == "backbone_options"
        if data["backbone"] != self.backbone and not whole_options_given:
            # Options belong to a backbone (small_cnn's filters mean nothing to MobileNetV2):
            # a new backbone starts from its own defaults plus the options given here.
            data["backbone_options"] = dotted_options
        return TrainConfig.from_dict(data)

    # ---- validation ----------------------------------------------------------------------

    def validate(self, n_train_images: int | None = None, *, check_weights_file: bool = True) -> TrainConfig:
        """Check every field; raise ConfigError(field, message) on the first problem.

        Args:
            n_train_images: number of training images of the fold, when known (the batch
                cannot be larger).
            check_weights_file: when ``weights`` is a file, build the backbone and load it
                (imports TensorFlow) to refuse a file of another network.

        Returns self, so ``config = TrainConfig(...).validate()`` reads naturally.
        """
        from glaucoma_core.networks.registry import get_backbone, list_backbones

        try:
            spec = get_backbone(self.backbone)
        except KeyError:
            raise ConfigError(
                "backbone", f"unknown backbone {self.backbone!r}; choose one of {', '.join(list_backbones())}"
            ) from None
        if not isinstance(self.backbone_options, dict):
            raise ConfigError("backbone_options", "must be a mapping of option -> value")
        bad = sorted(set(self.backbone_options) - set(spec.options))
        if bad:
            known = ", ".join(spec.options) or "none"
            raise ConfigError("backbone_options", f"{spec.name} has no option {bad[0]!r} (options: {known})")
        options = self.resolved_backbone_options()
        alpha = options.get("alpha")
        if alpha is not None and not (_is_number(alpha) and float(alpha) > 0):
            raise ConfigError("backbone_options", f"alpha must be a positive number, got {alpha!r}")
        filters = options.get("filters")
        if filters is not None and not (
            isinstance(filters, (list, tuple)) and filters and all(_is_int(f) and f > 0 for f in filters)
        ):
            raise ConfigError("backbone_options", f"filters must be a list of positive whole numbers, got {filters!r}")
        for name, low, high in (("convs_per_block", 1, 8), ("crop_size", 16, 1024)):
            value = options.get(name)
            if value is not None and not (_is_int(value) and low <= value <= high):
                raise ConfigError("backbone_options", f"{name} must be a whole number in {low}..{high}, got {value!r}")
        crop = options.get("disc_crop")
        if crop is not None and not (_is_number(crop) and 0 <= crop <= 1):
            raise ConfigError("backbone_options", f"disc_crop must be a fraction in [0, 1] (0 = off), got {crop!r}")

        size = self.input_size
        if size is not None:
            if not _is_int(size) or size <= 0:
                raise ConfigError("input_size", f"must be a positive whole number of pixels, got {size!r}")
            if size < spec.min_size:
                raise ConfigError(
                    "input_size",
                    f"{size} px is too small for {spec.name}: its downsampling needs at least "
                    f"{spec.min_size} px (default {spec.size})",
                )
            if size > 2048:
                raise ConfigError("input_size", f"{size} px is larger than the 2048 px this workbench allows")

        weights = str(self.weights)
        if weights.lower() == "imagenet":
            if not spec.imagenet:
                raise ConfigError("weights", f"{spec.name} has no ImageNet weights; use weights=none or a file")
        elif weights.lower() != "none":
            path = Path(weights).expanduser()
            if not path.is_file():
                raise ConfigError("weights", f"weights file not found: {path}")
            if check_weights_file:
                from glaucoma_core.networks.weights import check_weights_file as check

                check(spec.name, self.resolved_input_size(), str(path), self.backbone_options or {})

        _choice(self, "trainable", TRAINABLE)
        _whole(self, "trainable_layers", 0)
        if self.trainable == "last_n" and self.trainable_layers < 1:
            raise ConfigError("trainable_layers", "trainable=last_n needs trainable_layers >= 1")
        if self.trainable in ("last_n", "all") and spec.imagenet is False and weights.lower() == "none":
            pass  # training from scratch: fine
        if self.trainable == "head" and weights.lower() == "none":
            raise ConfigError("trainable", "a frozen backbone with weights=none would train on random features")

        _choice(self, "head_pooling", POOLING)
        _fraction(self, "head_dropout", upper_open=True)
        _whole(self, "head_dense_units", 0)

        _choice(self, "optimizer", OPTIMIZERS)
        _positive(self, "learning_rate")
        _fraction(self, "momentum", upper_open=True)
        _non_negative(self, "weight_decay")
        _choice(self, "lr_schedule", SCHEDULES)
        _whole(self, "lr_warmup_epochs", 0)
        _fraction(self, "lr_plateau_factor", upper_open=True, lower_open=True)
        _whole(self, "lr_plateau_patience", 0)

        _whole(self, "batch_size", 1)
        _whole(self, "epochs", 1)
        if self.lr_warmup_epochs >= self.epochs and self.lr_schedule == "cosine" and self.lr_warmup_epochs:
            raise ConfigError("lr_warmup_epochs", f"warm-up ({self.lr_warmup_epochs}) must be shorter than epochs ({self.epochs})")
        if n_train_images is not None and self.batch_size > n_train_images:
            raise ConfigError(
                "batch_size", f"batch size {self.batch_size} is larger than the {n_train_images} training images"
            )
        _bool(self, "early_stopping")
        _choice(self, "early_stopping_monitor", MONITORS)
        _whole(self, "early_stopping_patience", 0)
        _bool(self, "early_stopping_restore_best")

        _choice(self, "loss", LOSSES)
        _non_negative(self, "focal_gamma")
        cw = self.class_weight
        if cw not in (None, "", "none", "balanced"):
            if not isinstance(cw, dict) or {str(k) for k in cw} - {"0", "1"} or not all(
                _is_number(v) and float(v) >= 0 for v in cw.values()
            ):
                raise ConfigError("class_weight", "must be none, 'balanced' or {0: weight, 1: weight} with weights >= 0")

        for name in ("augment_hflip", "augment_vflip", "early_stopping", "feature_cache"):
            _bool(self, name)
        _non_negative(self, "augment_rotation")
        if self.augment_rotation > 180:
            raise ConfigError("augment_rotation", "is in degrees and must be at most 180")
        for name in ("augment_zoom", "augment_brightness", "augment_contrast"):
            _fraction(self, name, upper_open=True)

        _whole(self, "fine_tune_epochs", 0)
        _whole(self, "fine_tune_layers", 0)
        _positive(self, "fine_tune_learning_rate")
        if self.fine_tune_epochs and self.fine_tune_layers < 1:
            raise ConfigError("fine_tune_layers", "fine_tune_epochs > 0 needs fine_tune_layers >= 1")

        _whole(self, "seed", 0)
        _choice(self, "mixed_precision", SWITCHES)
        _choice(self, "xla", SWITCHES)
        return self


# ---- helpers ----------------------------------------------------------------------------


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _choice(config, name, options):
    value = getattr(config, name)
    if value not in options:
        raise ConfigError(name, f"{value!r} is not one of {', '.join(options)}")


def _whole(config, name, minimum):
    value = getattr(config, name)
    if not _is_int(value) or value < minimum:
        raise ConfigError(name, f"must be a whole number >= {minimum}, got {value!r}")


def _positive(config, name):
    value = getattr(config, name)
    if not _is_number(value) or not value > 0:
        raise ConfigError(name, f"must be a positive number, got {value!r}")


def _non_negative(config, name):
    value = getattr(config, name)
    if not _is_number(value) or value < 0:
        raise ConfigError(name, f"must be a number >= 0, got {value!r}")


def _fraction(config, name, *, upper_open=False, lower_open=False):
    value = getattr(config, name)
    ok = _is_number(value) and (value > 0 if lower_open else value >= 0) and (value < 1 if upper_open else value <= 1)
    if not ok:
        low = "(0" if lower_open else "[0"
        high = "1)" if upper_open else "1]"
        raise ConfigError(name, f"must be a number in {low}, {high}, got {value!r}")


def _bool(config, name):
    if not isinstance(getattr(config, name), bool):
        raise ConfigError(name, f"must be true or false, got {getattr(config, name)!r}")


def _parse_scalar(value):
    """'true' -> True, '3' -> 3, '1e-3' -> 1e-3, 'none' -> None, JSON -> object, else the string."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    low = text.lower()
    if low in ("true", "yes", "on"):
        return True
    if low in ("false", "no", "off"):
        return False
    if low in ("none", "null"):
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


_STRING_FIELDS = {"backbone", "weights", "trainable", "head_pooling", "optimizer", "lr_schedule",
                  "early_stopping_monitor", "loss", "mixed_precision", "xla"}


def _coerce(name: str, value, default):
    """Convert a JSON or CLI value to the type of field ``name`` (ConfigError when impossible)."""
    if name in _STRING_FIELDS:
        if value is None:
            value = "none"
        if isinstance(value, bool) and name in ("mixed_precision", "xla"):
            return "on" if value else "off"
        if isinstance(value, str):
            text = value.strip()
            if name in ("mixed_precision", "xla") and text.lower() in ("true", "false", "yes", "no"):
                return "on" if text.lower() in ("true", "yes") else "off"
            return text if name == "weights" else text.lower()
        raise ConfigError(name, f"must be text, got {value!r}")
    parsed = _parse_scalar(value)
    if name == "class_weight":
        if isinstance(parsed, str):
            return parsed.lower()
        if isinstance(parsed, dict):
            return {str(k): v for k, v in parsed.items()}
        return parsed
    if name == "backbone_options":
        if parsed is None:
            return {}
        if not isinstance(parsed, dict):
            raise ConfigError(name, f"must be a mapping, got {value!r}")
        return dict(parsed)
    if name == "input_size":
        if parsed is None:
            return None
        if _is_number(parsed) and float(parsed).is_integer():
            return int(parsed)
        return parsed  # validate() names the problem
    if isinstance(default, bool):
        if isinstance(parsed, bool):
            return parsed
        if parsed in (0, 1):
            return bool(parsed)
        return parsed
    if isinstance(default, int):
        if _is_number(parsed) and float(parsed).is_integer():
            return int(parsed)
        return parsed
    if isinstance(default, float):
        if _is_number(parsed):
            return float(parsed)
        return parsed
    return parsed


# ---- presets ------------------------------------------------------------------------------

_PAPER = dict(
    weights="imagenet",
    trainable="all",
    head_pooling="avg",
    head_dropout=0.5,
    head_dense_units=0,
    optimizer="sgd",
    learning_rate=1e-4,
    momentum=0.9,
    batch_size=32,
    epochs=100,
    early_stopping=True,
    early_stopping_monitor="val_loss",
    early_stopping_patience=10,
    loss="categorical_crossentropy",
    augment_hflip=True,
    augment_vflip=True,
    augment_rotation=15.0,
    augment_zoom=0.1,
    feature_cache=False,
)

PRESETS: dict[str, TrainConfig] = {
    "paper-vgg16": TrainConfig(backbone="vgg16", input_size=224, **_PAPER),
    "paper-vgg19": TrainConfig(backbone="vgg19", input_size=224, **_PAPER),
    "paper-inceptionv3": TrainConfig(backbone="inceptionv3", input_size=299, **_PAPER),
    "paper-resnet50": TrainConfig(backbone="resnet50", input_size=224, **_PAPER),
    "paper-xception": TrainConfig(backbone="xception", input_size=299, **_PAPER),
    "seed-frozen": TrainConfig(
        backbone="mobilenetv2",
        input_size=224,
        weights="imagenet",
        trainable="head",
        head_pooling="avg",
        head_dropout=0.2,
        head_dense_units=128,
        optimizer="adam",
        learning_rate=1e-3,
        batch_size=32,
        epochs=80,
        early_stopping=True,
        early_stopping_monitor="val_loss",
        early_stopping_patience=10,
        loss="categorical_crossentropy",
    ),
    "cpu-small": TrainConfig(
        backbone="small_cnn",
        backbone_options={"filters": [16, 32, 64], "disc_crop": 0.3, "crop_size": 64},
        input_size=256,
        weights="none",
        trainable="all",
        head_pooling="avg",
        head_dropout=0.2,
        optimizer="adam",
        learning_rate=3e-3,
        lr_schedule="cosine",
        batch_size=16,
        epochs=20,
        early_stopping=True,
        early_stopping_monitor="val_loss",
        early_stopping_patience=20,
        loss="categorical_crossentropy",
        augment_hflip=True,
        augment_vflip=True,
        mixed_precision="off",
        xla="off",
    ),
    "cpu-transfer": TrainConfig(
        backbone="mobilenetv2",
        backbone_options={"alpha": 0.35},
        input_size=224,
        weights="imagenet",
        trainable="head",
        head_pooling="avg",
        head_dropout=0.2,
        head_dense_units=0,
        optimizer="adam",
        learning_rate=1e-3,
        batch_size=32,
        epochs=40,
        early_stopping=True,
        early_stopping_monitor="val_loss",
        early_stopping_patience=8,
        loss="categorical_crossentropy",
        fine_tune_epochs=0,
        fine_tune_layers=20,
        fine_tune_learning_rate=1e-4,
    ),
}

_DESCRIPTIONS = {
    "paper-vgg16": "Diaz-Pinto et al. 2019: VGG16 at 224 px, ImageNet weights, fine-tuned (GPU).",
    "paper-vgg19": "Diaz-Pinto et al. 2019: VGG19 at 224 px, ImageNet weights, fine-tuned (GPU).",
    "paper-inceptionv3": "Diaz-Pinto et al. 2019: InceptionV3 at 299 px, ImageNet weights, fine-tuned (GPU).",
    "paper-resnet50": "Diaz-Pinto et al. 2019: ResNet50 at 224 px, ImageNet weights, fine-tuned (GPU).",
    "paper-xception": "Diaz-Pinto et al. 2019: Xception at 299 px, ImageNet weights, fine-tuned (GPU).",
    "seed-frozen": "Course project's model: ImageNet backbone frozen, new head; Adam 1e-3, batch 32, "
    "80 epochs with early stopping, categorical cross-entropy, F1 tracked.",
    "cpu-small": "Compact CNN from scratch on a 64 px crop around the optic disc (found as the brightest "
    "region of the 256 px image), flips: 10-fold CV of the demo data in minutes on 2 CPU cores.",
    "cpu-transfer": "MobileNetV2 (alpha 0.35) ImageNet weights, frozen, head trained on cached features; "
    "set fine_tune_epochs>0 to fine-tune the last blocks.",
}


def get_preset(name: str) -> TrainConfig:
    """A fresh copy of preset ``name``; ConfigError('preset', ...) listing the presets otherwise."""
    try:
        preset = PRESETS[name]
    except KeyError:
        raise ConfigError("preset", f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}") from None
    return TrainConfig.from_dict(preset.to_dict())


def preset_descriptions() -> dict[str, str]:
    """Preset name -> one-line description, in listing order."""
    return {name: _DESCRIPTIONS[name] for name in PRESETS}
