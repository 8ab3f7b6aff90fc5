"""The training configuration form, generated from the declaration of TrainConfig's fields.

Each field's widget, label, help text and section come from its declared
:class:`~glaucoma_core.settings.Setting` (``glaucoma_core.config.FIELDS``): a field added to
``TrainConfig`` appears here without any change to this module. The form only collects values;
:meth:`TrainConfig.with_overrides` turns them into a config and :meth:`TrainConfig.validate`
judges them (its ConfigError names the field).
"""

from __future__ import annotations

import json
from pathlib import Path

import streamlit as st

from glaucoma_core import config as cfg
from glaucoma_core.networks.registry import get_backbone
from glaucoma_core.settings import Setting

EXPANDED = ("Network", "Optimiser", "Training loop")
"""Sections shown open; the others start collapsed."""


def _help(setting: Setting, config: cfg.TrainConfig) -> str:
    """The help text of a field: its declared help, its range or choices, and for
    ``backbone_options`` the options the chosen backbone declares."""
    parts = [setting.help]
    if setting.range_text():
        parts.append(f"Range: {setting.range_text()}.")
    if setting.name == "backbone_options":
        try:
            declared = get_backbone(config.backbone).settings
        except KeyError:
            declared = ()
        if declared:
            parts.append(f"Options of {config.backbone}: " + "; ".join(
                f"{s.name} ({s.range_text() or s.kind}, default {json.dumps(s.default)}): {s.help}" for s in declared))
        else:
            parts.append(f"{config.backbone} has no options.")
    return " ".join(p for p in parts if p)


def _as_text(value) -> str:
    if value is None:
        return "none"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def _widget(setting: Setting, value, key: str, help_text: str):
    """The input widget of one field showing ``value``; returns what the user entered."""
    label = setting.name.replace("_", " ")
    kind = setting.kind
    if kind == "choice":
        options = list(setting.allowed_choices())
        if value not in options:
            options = [value, *options]
        return st.selectbox(label, options, index=options.index(value), key=key, help=help_text)
    if kind == "bool" and isinstance(value, bool):
        return st.checkbox(label, value=value, key=key, help=help_text)
    if kind == "int" and (value is None or isinstance(value, int)) and not isinstance(value, bool):
        return st.number_input(label, value=value, step=1, key=key, help=help_text,
                               placeholder="default" if setting.nullable else None)
    if kind == "float" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return st.number_input(label, value=float(value), format=setting.fmt or "%.4f", step=None, key=key,
                               help=help_text)
    return st.text_input(label, _as_text(value), key=key, help=help_text)


def _as_override(value) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def config_form(base: cfg.TrainConfig, key: str) -> tuple[cfg.TrainConfig | None, str | None, str | None]:
    """Draw the form starting from ``base``; return (config, None, None) or (None, field, message).

    key: a prefix for the widget keys (``f"{key}_{field}"``; change it to reset the form, e.g.
    per preset). The config returned is parsed but not yet validated against the data.
    """
    values = base.to_dict()
    overrides: dict[str, str] = {}
    for group in cfg.GROUPS:
        settings = [s for s in cfg.FIELDS if s.group == group]
        if not settings:
            continue
        with st.expander(group, expanded=group in EXPANDED):
            cols = st.columns(3)
            for i, setting in enumerate(settings):
                name = setting.name
                with cols[i % 3]:
                    new = _widget(setting, values[name], key=f"{key}_{name}", help_text=_help(setting, base))
                # Text widgets give text: compare what it reads as, so an untouched field is no override
                # (an untouched backbone_options must not pin the old backbone's options).
                if setting.coerce(new) != values[name]:
                    overrides[name] = _as_override(new)
    try:
        return base.with_overrides(overrides), None, None
    except cfg.ConfigError as exc:
        return None, exc.field, exc.message


def preset_and_form(key: str, n_train_images: int | None, base=None) -> tuple[cfg.TrainConfig | None, str | None]:
    """Preset picker, the form, and validation against the data.

    Args:
        key: prefix of the widget keys (the preset picker is ``f"{key}_preset"``, the fields
            ``f"{key}_{preset}_{field}"``).
        n_train_images: training images of the fold (the batch cannot be larger); None = unknown.
        base: optional callable(preset name) -> TrainConfig or None: the values the form starts
            from instead of the preset's (the user's remembered values, see ``form_memory``).

    Returns (config, None) when valid, else (None, error text naming the field); the error is
    also shown.
    """
    descriptions = cfg.preset_descriptions()
    names = list(descriptions)
    c1, c2 = st.columns([1, 2])
    preset = c1.selectbox("Start from preset", names, index=names.index("cpu-small") if "cpu-small" in names else 0,
                          key=f"{key}_preset")
    c2.caption(descriptions[preset])
    start = base(preset) if base is not None else None  # base: preset name -> the values to show (form_memory)
    config, bad_field, message = config_form(start or cfg.get_preset(preset), key=f"{key}_{preset}")
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
    try:
        real = Path(text).expanduser().resolve()
    except (OSError, ValueError, RuntimeError) as error:  # NUL byte, symlink loop, name too long
        return f"{text!r}: not a usable file path ({error})"
    for allowed in (root, Path(home_dir()).resolve()):
        if real == allowed or allowed in real.parents:
            return None
    return f"{text}: outside the allowed data root {root} (GLAUCOMA_DATA_ROOT); put the weights file inside it"
