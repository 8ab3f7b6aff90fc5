"""The training configuration form: a widget per TrainConfig field, grouped as in its docstring.

The form only collects values; :meth:`TrainConfig.with_overrides` turns them into a config and
:meth:`TrainConfig.validate` judges them (its ConfigError names the field).
"""

from __future__ import annotations

import json
from pathlib import Path

import streamlit as st

from glaucoma_core import config as cfg

# Section -> fields, in the order of TrainConfig.
SECTIONS = {
    "Network": ["backbone", "backbone_options", "input_size", "weights", "trainable", "trainable_layers"],
    "Head": ["head_pooling", "head_dropout", "head_dense_units"],
    "Optimiser and schedule": [
        "optimizer", "learning_rate", "momentum", "weight_decay", "lr_schedule", "lr_warmup_epochs",
        "lr_plateau_factor", "lr_plateau_patience",
    ],
    "Training loop": [
        "batch_size", "epochs", "early_stopping", "early_stopping_monitor", "early_stopping_patience",
        "early_stopping_restore_best",
    ],
    "Loss": ["loss", "focal_gamma", "class_weight"],
    "Augmentation": [
        "augment_hflip", "augment_vflip", "augment_rotation", "augment_zoom", "augment_brightness",
        "augment_contrast",
    ],
    "Frozen fast path and fine-tuning": [
        "feature_cache", "fine_tune_epochs", "fine_tune_layers", "fine_tune_learning_rate",
    ],
    "Reproducibility and device": ["seed", "mixed_precision", "xla"],
}

CHOICES = {
    "trainable": cfg.TRAINABLE,
    "head_pooling": cfg.POOLING,
    "optimizer": cfg.OPTIMIZERS,
    "lr_schedule": cfg.SCHEDULES,
    "loss": cfg.LOSSES,
    "mixed_precision": cfg.SWITCHES,
    "xla": cfg.SWITCHES,
    "early_stopping_monitor": cfg.MONITORS,
}

HELP = {
    "input_size": "Pixels (square). Empty = the backbone's default size.",
    "weights": "'imagenet', 'none' (random start) or the path of a local weights file.",
    "backbone_options": 'JSON, e.g. {"alpha": 0.35} for MobileNetV2.',
    "class_weight": "none, balanced, or JSON such as {\"0\": 1, \"1\": 2}.",
    "trainable": "head: backbone frozen · last_n: the last trainable_layers layers · all.",
    "feature_cache": "With a frozen backbone and no augmentation, compute backbone features once and train the head only.",
}

_FLOAT_FORMAT = {"learning_rate": "%.2e", "weight_decay": "%.2e", "fine_tune_learning_rate": "%.2e"}


def _backbones() -> list[str]:
    from glaucoma_core.networks.registry import list_backbones

    return list(list_backbones())


def _widget(name: str, value, key: str):
    """One input widget for field ``name`` whose current value is ``value``; returns the new value."""
    label = name.replace("_", " ")
    help_text = HELP.get(name)
    if name == "backbone":
        options = _backbones()
        if value not in options:
            options = [value, *options]
        return st.selectbox(label, options, index=options.index(value), key=key, help=help_text)
    if name in CHOICES:
        options = list(CHOICES[name])
        return st.selectbox(label, options, index=options.index(value) if value in options else 0, key=key,
                            help=help_text)
    if name == "input_size":
        return st.number_input(label, min_value=1, max_value=4096, value=value, step=1, key=key,
                               placeholder="backbone default", help=help_text)
    if name in ("backbone_options", "class_weight"):
        text = "none" if value is None else (json.dumps(value) if isinstance(value, dict) else str(value))
        if name == "backbone_options" and value == {}:
            text = "{}"
        return st.text_input(label, text, key=key, help=help_text)
    if isinstance(value, bool):
        return st.checkbox(label, value=value, key=key, help=help_text)
    if isinstance(value, int):
        return st.number_input(label, value=value, step=1, key=key, help=help_text)
    if isinstance(value, float):
        return st.number_input(label, value=value, format=_FLOAT_FORMAT.get(name, "%.4f"),
                               step=None, key=key, help=help_text)
    return st.text_input(label, "" if value is None else str(value), key=key, help=help_text)


def _as_override(value) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def config_form(base: cfg.TrainConfig, key: str) -> tuple[cfg.TrainConfig | None, str | None, str | None]:
    """Draw the form starting from ``base``; return (config, None, None) or (None, field, message).

    key: a prefix for the widget keys (change it to reset the form, e.g. per preset).
    The config returned is parsed but not yet validated against the data.
    """
    values = base.to_dict()
    overrides: dict[str, str] = {}
    known = set(values)
    for section, names in SECTIONS.items():
        names = [n for n in names if n in known]
        with st.expander(section, expanded=section in ("Network", "Optimiser and schedule", "Training loop")):
            cols = st.columns(3)
            for i, name in enumerate(names):
                with cols[i % 3]:
                    new = _widget(name, values[name], key=f"{key}_{name}")
                if new != values[name]:
                    overrides[name] = _as_override(new)
    # Fields a newer TrainConfig may add: shown, so every field stays editable.
    extra = [n for n in values if not any(n in names for names in SECTIONS.values())]
    if extra:
        with st.expander("Other settings"):
            for name in extra:
                new = _widget(name, values[name], key=f"{key}_{name}")
                if new != values[name]:
                    overrides[name] = _as_override(new)
    try:
        return base.with_overrides(overrides), None, None
    except cfg.ConfigError as exc:
        return None, exc.field, exc.message


def preset_and_form(key: str, n_train_images: int | None) -> tuple[cfg.TrainConfig | None, str | None]:
    """Preset picker, the form, and validation against the data.

    Returns (config, None) when valid, else (None, error text naming the field); the error is
    also shown.
    """
    descriptions = cfg.preset_descriptions()
    names = list(descriptions)
    c1, c2 = st.columns([1, 2])
    preset = c1.selectbox("Start from preset", names, index=names.index("cpu-small") if "cpu-small" in names else 0,
                          key=f"{key}_preset")
    c2.caption(descriptions[preset])
    config, bad_field, message = config_form(cfg.get_preset(preset), key=f"{key}_{preset}")
    refused = _weights_refused(config.weights) if config is not None else None
    if refused:  # before validation, which would open the file
        config, bad_field, message = None, "weights", refused
    if config is not None:
        try:
            config.validate(n_train_images=n_train_images or None)
        except cfg.ConfigError as exc:
            config, bad_field, message = None, exc.field, exc.message
    if bad_field:
        text = f"{bad_field}: {message}"
        st.error(f"**{bad_field}**: {message}", icon=":material/error:")
        return None, text
    return config, None


def _weights_refused(weights) -> str | None:
    """Why the app may not open the weights file ``weights``, or None.

    With $GLAUCOMA_DATA_ROOT set, a weights *path* must lie (symlinks followed) inside it or
    inside the workbench home; 'imagenet' and 'none' are names, not paths.
    """
    from glaucoma_core.data.access import data_root
    from glaucoma_core.paths import home_dir

    root = data_root()
    text = "" if weights is None else str(weights).strip()
    if root is None or text.lower() in ("", "imagenet", "none"):
        return None
    real = Path(text).expanduser().resolve()
    for allowed in (root, Path(home_dir()).resolve()):
        if real == allowed or allowed in real.parents:
            return None
    return f"{text}: outside the allowed data root {root} (GLAUCOMA_DATA_ROOT); put the weights file inside it"
