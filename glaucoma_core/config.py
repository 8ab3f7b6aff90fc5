"""TrainConfig: everything that decides how one model is trained, as one JSON-able dataclass.

Every field is declared once, below, with :func:`~glaucoma_core.settings.setting_field`: its
type, default, group, help and range or choices. That declaration alone drives reading JSON and
``--set key=value`` strings (:meth:`TrainConfig.from_dict`, :meth:`TrainConfig.with_overrides`),
the check of each field (:meth:`TrainConfig.validate`, then a short list of rules that involve
several fields), listings (:func:`describe_fields`) and the app's form
(``app_pages/_components/config_form.py``). Backbone options (``backbone_options``) are declared
and checked by each backbone in the registry (:mod:`glaucoma_core.networks`); this module asks
the registry and the registry never imports this module.

A config is built from a preset (:func:`get_preset`), a JSON file (:meth:`TrainConfig.from_json`,
UTF-8 or UTF-16 with or without a byte-order mark) and overrides, then checked by
:meth:`TrainConfig.validate`, which raises :class:`ConfigError` naming the field at fault.
Importing this module does not import TensorFlow (only validating a weights *file* does).
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from glaucoma_core.errors import ConfigError
from glaucoma_core.networks.registry import get_backbone, list_backbones
from glaucoma_core.settings import Setting, is_number, parse_text, setting_field, settings_of

__all__ = ["ConfigError", "FIELDS", "PRESETS", "TrainConfig", "describe_fields", "get_preset",
           "preset_descriptions"]


TRAINABLE = ("head", "last_n", "all")
POOLING = ("avg", "max", "flatten")
OPTIMIZERS = ("adam", "adamw", "sgd")
SCHEDULES = ("constant", "cosine", "plateau")
LOSSES = ("categorical_crossentropy", "binary_crossentropy", "focal")
DISC_CROP_MODES = ("off", "auto", "on")  # = glaucoma_core.preparation.settings (a test checks)
ILLUMINATION_METHODS = ("none", "graham", "clahe")
SWITCHES = ("auto", "on", "off")
MONITORS = ("val_loss", "val_auc", "val_accuracy", "val_f1", "val_sensitivity", "val_specificity",
            "loss", "auc", "accuracy", "f1")

MAX_EPOCHS = 100_000
MAX_LAYERS = 100_000
MAX_CONFIG_BYTES = 1 << 20
"""The largest configuration file read (a JSON of every field is about 1.5 KB)."""

_SWITCH = {True: "on", False: "off"}  # mixed_precision=true reads as "on"


def _class_weight_convert(value: Any) -> Any:
    if isinstance(value, str):
        return value.strip().lower()
    if isinstance(value, dict):
        return {str(k): v for k, v in value.items()}
    return value


def _class_weight_problem(value: Any) -> str | None:
    if value in (None, "", "none", "balanced"):
        return None
    usage = "must be none, 'balanced' or {0: weight, 1: weight} with finite weights in [0, 1000]"
    if not isinstance(value, dict) or not value or {str(k) for k in value} - {"0", "1"}:
        return f"{usage}, got {value!r}"
    weights = list(value.values())
    if not all(is_number(w) and 0 <= w <= 1000 for w in weights):  # NaN fails both comparisons
        return f"{usage}, got {value!r}"
    if not any(w > 0 for w in weights):
        return f"at least one class weight must be > 0, got {value!r}"
    return None


def _weights_problem(value: Any) -> str | None:
    if "\x00" in value:
        return "a file path cannot contain a NUL character"
    return None


@dataclass
class TrainConfig:
    """How to train one classifier: one declared field per setting (see each field's ``help``,
    or :func:`describe_fields`), grouped by ``group`` (:data:`GROUPS`).

    To add a setting, declare it here with :func:`~glaucoma_core.settings.setting_field` (default,
    group, help, range or choices); JSON, ``--set``, validation, listings and the app's form
    follow from that line.

    Derived values: :meth:`resolved_input_size`, :meth:`resolved_backbone_options`,
    :attr:`augmentation_on`, :attr:`backbone_frozen`, :attr:`uses_feature_cache`,
    :meth:`class_weight_map`.
    """

    # ---- Network --------------------------------------------------------------------------
    backbone: str = setting_field(
        "small_cnn", choices=list_backbones, group="Network",
        help="Registered network that extracts the image features.")
    backbone_options: dict = setting_field(
        {}, group="Network",
        help='Options of the backbone as JSON, e.g. {"alpha": 0.35} for MobileNetV2 (each backbone '
        "declares and checks its own; unset ones take the backbone's defaults).")
    input_size: int | None = setting_field(
        None, "int", nullable=True, low=1, high=2048, group="Network",
        help="Side of the square input in pixels; empty = the backbone's default size.")
    weights: str = setting_field(
        "none", "str", check=_weights_problem, group="Network",
        help="'imagenet', 'none' (random start) or the path of a local weights file of this backbone.")
    resolution_normalisation: int | None = setting_field(
        None, "int", nullable=True, low=16, high=4096, group="Network",
        help="Bring every image to this effective resolution (side in pixels) before the network's resize: "
        "downscaled to it, then resized to the input size; removes an image-size or sharpness shortcut "
        "(e.g. one class stored at twice the resolution). Use at most the smallest image side; empty = off.")

    # ---- Fundus preparation (glaucoma_core.preparation; applied on every path) -------------
    prepare_field_of_view: bool = setting_field(
        False, group="Fundus preparation",
        help="Crop to the camera's circular field and black out what is outside it (images without a "
        "black surround are left whole and reported).")
    prepare_disc_crop: str = setting_field(
        "off", choices=DISC_CROP_MODES, group="Fundus preparation",
        help="Crop around the optic disc: off · auto = full-field photographs only (disc found with "
        "confidence; disc-centred images left alone) · on = always, around the best candidate.")
    prepare_disc_crop_scale: float = setting_field(
        2.5, low=1.0, high=10.0, group="Fundus preparation",
        help="Side of the disc crop in estimated disc diameters.")
    prepare_illumination: str = setting_field(
        "none", choices=ILLUMINATION_METHODS, group="Fundus preparation",
        help="Illumination normalisation after the crop: none · graham (local mean subtraction) · "
        "clahe (adaptive histogram equalisation of lightness).")

    trainable: str = setting_field(
        "all", choices=TRAINABLE, group="Network",
        help="head: backbone frozen · last_n: the last trainable_layers backbone layers train · all. "
        "Frozen BatchNorm layers always run in inference mode.")
    trainable_layers: int = setting_field(
        0, low=0, high=MAX_LAYERS, group="Network",
        help="With trainable=last_n: how many of the last backbone layers train.")

    # ---- Head -----------------------------------------------------------------------------
    head_pooling: str = setting_field(
        "avg", choices=POOLING, group="Head", help="How the last feature map becomes one vector.")
    head_dropout: float = setting_field(
        0.2, low=0.0, high=1.0, high_open=True, group="Head", help="Dropout rate before the output layer.")
    head_dense_units: int = setting_field(
        0, low=0, high=65536, group="Head", help="Units of a hidden ReLU layer in the head; 0 = none.")

    # ---- Optimiser ------------------------------------------------------------------------
    optimizer: str = setting_field(
        "adam", choices=OPTIMIZERS, group="Optimiser", help="adam, adamw (with weight_decay) or sgd (with momentum).")
    learning_rate: float = setting_field(
        1e-3, low=0.0, low_open=True, high=10.0, fmt="%.2e", group="Optimiser",
        help="Initial learning rate of the main phase.")
    momentum: float = setting_field(
        0.9, low=0.0, high=1.0, high_open=True, group="Optimiser", help="SGD momentum.")
    weight_decay: float = setting_field(
        1e-4, low=0.0, high=1.0, fmt="%.2e", group="Optimiser", help="AdamW decoupled weight decay.")

    # ---- Schedule -------------------------------------------------------------------------
    lr_schedule: str = setting_field(
        "constant", choices=SCHEDULES, group="Schedule",
        help="constant · cosine decay (after lr_warmup_epochs of linear warm-up) · plateau: multiply by "
        "lr_plateau_factor after lr_plateau_patience epochs without improvement.")
    lr_warmup_epochs: int = setting_field(
        0, low=0, high=MAX_EPOCHS, group="Schedule", help="Linear warm-up epochs of the cosine schedule.")
    lr_plateau_factor: float = setting_field(
        0.5, low=0.0, high=1.0, low_open=True, high_open=True, group="Schedule",
        help="Factor applied to the learning rate on a plateau.")
    lr_plateau_patience: int = setting_field(
        3, low=0, high=MAX_EPOCHS, group="Schedule", help="Epochs without improvement before the plateau step.")

    # ---- Training loop --------------------------------------------------------------------
    batch_size: int = setting_field(
        32, low=1, high=1 << 20, group="Training loop",
        help="Images per step; at most the number of training images of the fold.")
    epochs: int = setting_field(20, low=1, high=MAX_EPOCHS, group="Training loop", help="Epochs of the main phase.")
    early_stopping: bool = setting_field(
        True, group="Training loop", help="Stop when early_stopping_monitor stops improving.")
    early_stopping_monitor: str = setting_field(
        "val_loss", choices=MONITORS, group="Training loop", help="Metric watched by early stopping.")
    early_stopping_patience: int = setting_field(
        5, low=0, high=MAX_EPOCHS, group="Training loop", help="Epochs without improvement before stopping.")
    early_stopping_restore_best: bool = setting_field(
        True, group="Training loop", help="Keep the weights of the best epoch rather than the last.")

    # ---- Loss -----------------------------------------------------------------------------
    loss: str = setting_field(
        "categorical_crossentropy", choices=LOSSES, group="Loss",
        help="categorical_crossentropy, binary_crossentropy (on P(glaucoma)) or focal (with focal_gamma).")
    focal_gamma: float = setting_field(
        2.0, low=0.0, high=10.0, group="Loss", help="Focusing parameter of the focal loss (0 = cross-entropy).")
    class_weight: Any = setting_field(
        None, "any", nullable=True, convert=_class_weight_convert, check=_class_weight_problem, group="Loss",
        help='none, balanced (inverse class frequency of the training split), or JSON such as {"0": 1, "1": 2}.')

    # ---- Augmentation (all off = none) ----------------------------------------------------
    augment_hflip: bool = setting_field(False, group="Augmentation", help="Random horizontal flips.")
    augment_vflip: bool = setting_field(False, group="Augmentation", help="Random vertical flips.")
    augment_rotation: float = setting_field(
        0.0, low=0.0, high=180.0, group="Augmentation", help="Largest random rotation in degrees.")
    augment_zoom: float = setting_field(
        0.0, low=0.0, high=1.0, high_open=True, group="Augmentation", help="Largest random zoom, as a fraction.")
    augment_brightness: float = setting_field(
        0.0, low=0.0, high=1.0, high_open=True, group="Augmentation",
        help="Largest random brightness change, as a fraction.")
    augment_contrast: float = setting_field(
        0.0, low=0.0, high=1.0, high_open=True, group="Augmentation",
        help="Largest random contrast change, as a fraction.")

    # ---- Frozen backbone and fine-tuning --------------------------------------------------
    feature_cache: bool = setting_field(
        True, group="Frozen backbone and fine-tuning",
        help="With a frozen backbone and no augmentation, compute backbone features once and train the head only.")
    fine_tune_epochs: int = setting_field(
        0, low=0, high=MAX_EPOCHS, group="Frozen backbone and fine-tuning",
        help="Epochs of an optional fine-tuning phase after the main one; 0 = none.")
    fine_tune_layers: int = setting_field(
        0, low=0, high=MAX_LAYERS, group="Frozen backbone and fine-tuning",
        help="Last backbone layers unfrozen for fine-tuning.")
    fine_tune_learning_rate: float = setting_field(
        1e-4, low=0.0, low_open=True, high=10.0, fmt="%.2e", group="Frozen backbone and fine-tuning",
        help="Learning rate of the fine-tuning phase.")

    # ---- Reproducibility and device -------------------------------------------------------
    seed: int = setting_field(
        0, low=0, high=2**32 - 1, group="Reproducibility and device",
        help="Seed of every random choice (initial weights, shuffling, augmentation, dropout).")
    mixed_precision: str = setting_field(
        "auto", choices=SWITCHES, aliases=_SWITCH, group="Reproducibility and device",
        help="float16 compute with a float32 head: auto = on with a GPU.")
    xla: str = setting_field(
        "auto", choices=SWITCHES, aliases=_SWITCH, group="Reproducibility and device",
        help="XLA compilation: auto = on with a GPU.")

    # ---- derived -----------------------------------------------------------------------

    def resolved_input_size(self) -> int:
        """The input size in pixels: ``input_size``, else the backbone's default."""
        if self.input_size is not None:
            return int(self.input_size)
        return get_backbone(self.backbone).size

    def resolved_backbone_options(self) -> dict:
        """The backbone's default options updated with ``backbone_options``."""
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
        """Build from a dict, reading each value as its field's declared type.

        Unknown keys raise ConfigError naming them; a value that cannot be read as its type is
        kept as given, and :meth:`validate` names the field.
        """
        unknown = sorted(str(k) for k in set(data) - set(FIELD_BY_NAME))
        if unknown:
            raise ConfigError(unknown[0], f"unknown setting (known: {', '.join(FIELD_BY_NAME)})")
        config = cls()
        for key, value in data.items():
            setattr(config, key, FIELD_BY_NAME[key].coerce(value))
        config.backbone_options = _coerced_options(config.backbone, config.backbone_options)
        return config

    def to_json(self, path: str | os.PathLike | None = None) -> str:
        """JSON text of the config; also written to ``path`` when given."""
        text = json.dumps(self.to_dict(), indent=2, sort_keys=True)
        if path is not None:
            Path(path).write_text(text + "\n", encoding="utf-8")
        return text

    @classmethod
    def from_json(cls, text_or_path: str | os.PathLike) -> TrainConfig:
        """Parse JSON text, or read a JSON file when given a path to one.

        A file may be UTF-8 (with or without a byte-order mark) or UTF-16/UTF-32 with a
        byte-order mark (what Windows PowerShell's ``>`` writes); anything else, a file that is
        not a regular file or one larger than :data:`MAX_CONFIG_BYTES` is refused with
        ConfigError('config', ...).
        """
        text = str(text_or_path) if isinstance(text_or_path, str) else ""
        if not text.lstrip("\ufeff \t\r\n").startswith("{"):
            text = read_config_text(Path(text_or_path))
        text = text.lstrip("\ufeff")
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise ConfigError("config", f"not valid JSON: {error}") from None
        except ValueError as error:  # e.g. an integer of more than 4300 digits
            raise ConfigError("config", f"not usable JSON: {str(error)[:200]}") from None
        except RecursionError:
            raise ConfigError("config", "not usable JSON: nested too deeply") from None
        if not isinstance(data, dict):
            raise ConfigError("config", "the JSON must be an object of settings")
        return cls.from_dict(data)

    def with_overrides(self, overrides: dict[str, Any]) -> TrainConfig:
        """A copy with ``{"key": "value"}`` overrides applied (CLI ``--set key=value``).

        Keys are field names; dots may stand for underscores (``head.dropout``), and
        ``backbone_options.alpha`` sets one backbone option. String values are read as the
        field's declared type ("true", "1e-4", "none", JSON for mappings). Switching to another
        backbone drops the old backbone's options (unless ``backbone_options`` is given).
        """
        data = self.to_dict()
        dotted_options: dict[str, Any] = {}
        whole_options_given = False
        for raw_key, value in overrides.items():
            key = str(raw_key).strip()
            if key.startswith("backbone_options.") or key.startswith("backbone.options."):
                option = key.split(".")[-1]
                dotted_options[option] = parse_text(value)
                data["backbone_options"] = {**data["backbone_options"], option: dotted_options[option]}
                continue
            flat = key.replace(".", "_").replace("-", "_")
            if flat not in FIELD_BY_NAME:
                raise ConfigError(key, f"unknown setting (known: {', '.join(FIELD_BY_NAME)})")
            data[flat] = value
            whole_options_given = whole_options_given or flat == "backbone_options"
        backbone = FIELD_BY_NAME["backbone"].coerce(data["backbone"])
        if backbone != self.backbone and not whole_options_given:
            # Options belong to a backbone (small_cnn's filters mean nothing to MobileNetV2):
            # a new backbone starts from its own defaults plus the options given here.
            data["backbone_options"] = dotted_options
        return TrainConfig.from_dict(data)

    # ---- validation ----------------------------------------------------------------------

    def validate(self, n_train_images: int | None = None, *, check_weights_file: bool = True) -> TrainConfig:
        """Check every field, then the rules between fields; raise ConfigError(field, message)
        on the first problem.

        Order: each field against its declaration (type, finiteness, range or choices, in
        declaration order); the backbone's own checks of ``backbone_options``, ``input_size``
        and ``weights``; :data:`RULES`; a weights file against the backbone (it may import
        TensorFlow); last, the batch against the data.

        Args:
            n_train_images: number of training images of the fold, when known (the batch
                cannot be larger).
            check_weights_file: when ``weights`` is a file, build the backbone and load it
                (imports TensorFlow) to refuse a file of another network.

        Returns self, so ``config = TrainConfig(...).validate()`` reads naturally.
        """
        for declared in FIELDS:
            problem = declared.problem(getattr(self, declared.name))
            if problem:
                raise ConfigError(declared.name, problem)
        spec = get_backbone(self.backbone)
        spec.validate(self.backbone_options, input_size=self.input_size, weights=self.weights)
        for rule in RULES:
            message = rule.check(self)
            if message:
                raise ConfigError(rule.field, message)
        weights = self.weights.lower()
        if weights not in ("imagenet", "none"):
            path = Path(self.weights).expanduser()
            try:
                found = path.is_file()
            except (OSError, ValueError) as error:
                raise ConfigError("weights", f"cannot use {self.weights!r} as a file: {error}") from None
            if not found:
                raise ConfigError("weights", f"weights file not found (or not a regular file): {path}")
            if check_weights_file:
                from glaucoma_core.networks.weights import check_weights_file as check

                check(spec, self.resolved_input_size(), str(path), self.backbone_options)
        if n_train_images is not None and self.batch_size > n_train_images:
            raise ConfigError(
                "batch_size", f"batch size {self.batch_size} is larger than the {n_train_images} training images"
            )
        return self


# ---- the declaration as data ------------------------------------------------------------------

FIELDS: tuple[Setting, ...] = settings_of(TrainConfig)
"""The declaration of every field of :class:`TrainConfig`, in field order."""

FIELD_BY_NAME: dict[str, Setting] = {s.name: s for s in FIELDS}

GROUPS: tuple[str, ...] = tuple(dict.fromkeys(s.group for s in FIELDS))
"""The groups of fields in the order of their first field: the order of listings and the form."""


def describe_fields() -> list[dict]:
    """Every configuration field as plain data, in declaration order.

    Each entry: ``name``, ``type`` (a :data:`~glaucoma_core.settings.KINDS` name), ``default``,
    ``group``, ``help``, ``nullable``, and ``range`` (``low``, ``high``, ``low_open``,
    ``high_open``, ``text``) or ``choices`` when the field has them. ``backbone_options`` also
    lists, per backbone, the options that backbone declares (``backbones``).
    """
    out = [s.describe() for s in FIELDS]
    for entry in out:
        if entry["name"] == "backbone_options":
            entry["backbones"] = {name: get_backbone(name).describe()["options"] for name in list_backbones()}
    return out


def _coerced_options(backbone: Any, options: Any) -> Any:
    """``options`` read as the types the backbone declares (unchanged when it cannot tell)."""
    if not isinstance(options, dict):
        return options
    try:
        spec = get_backbone(str(backbone))
    except KeyError:
        return options
    return spec.coerce_options(options)


# ---- rules between fields ---------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """A rule between fields: ``check(config)`` is None when fine, else the message for ``field``."""

    field: str
    check: Callable[[TrainConfig], str | None]


RULES: tuple[Rule, ...] = (
    Rule("trainable_layers", lambda c: "trainable=last_n needs trainable_layers >= 1"
         if c.trainable == "last_n" and c.trainable_layers < 1 else None),
    Rule("trainable", lambda c: "a frozen backbone with weights=none would train on random features"
         if c.trainable == "head" and c.weights.lower() == "none" else None),
    Rule("lr_warmup_epochs", lambda c: f"warm-up ({c.lr_warmup_epochs}) must be shorter than epochs ({c.epochs})"
         if c.lr_schedule == "cosine" and c.lr_warmup_epochs and c.lr_warmup_epochs >= c.epochs else None),
    Rule("fine_tune_layers", lambda c: "fine_tune_epochs > 0 needs fine_tune_layers >= 1"
         if c.fine_tune_epochs and c.fine_tune_layers < 1 else None),
)
"""The rules that involve several fields (each field's own range is in its declaration)."""


# ---- reading a configuration file -------------------------------------------------------------


def read_config_text(path: Path) -> str:
    """The text of configuration file ``path`` through the one safe opener
    (:mod:`glaucoma_core.data.safe_files`): a regular file (a FIFO or a device is refused
    without blocking) of at most :data:`MAX_CONFIG_BYTES`, in UTF-8 (with or without a
    byte-order mark) or UTF-16/UTF-32 with a byte-order mark. ConfigError('config', ...) otherwise.
    """
    from glaucoma_core.data.safe_files import UnsafeFileError, read_user_text

    try:
        return read_user_text(path, max_bytes=MAX_CONFIG_BYTES)
    except UnsafeFileError as error:
        raise ConfigError("config", f"cannot read {error}") from None


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

# Good defaults (issue 16): every preset crops full-field photographs around the optic disc and
# leaves disc-centred images (the demo images among them) exactly as they were.
for _preset in PRESETS.values():
    _preset.prepare_disc_crop = "auto"

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
