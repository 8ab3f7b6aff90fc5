"""The training form remembers the user's values across a reload (in the page's URL).

Each time the form is drawn, the preset and the fields that differ from it are written to a
query parameter of the page (``?train_cfg={"preset": "cpu-small", "set": {...}}``): a reload,
or a bookmark, starts the form from them instead of silently from the preset. "New run from
these settings" (Runs page) puts a run's configuration there.
"""

from __future__ import annotations

import json

import streamlit as st

from glaucoma_core import config as cfg

FROM_RUN = "form_from_run"  # session key: {"form": key, "run": id, "config": dict} set by the Runs page
MAX_PARAM = 6000  # characters; a larger memory is not written to the URL


def _memory(key: str) -> dict | None:
    raw = st.query_params.get(key)
    if not raw:
        return None
    try:
        memory = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(memory, dict) or memory.get("preset") not in cfg.PRESETS or not isinstance(memory.get("set"), dict):
        return None
    return memory


def differences(config: cfg.TrainConfig | dict, preset: str) -> dict:
    """The fields of ``config`` whose value is not the preset's."""
    values = config.to_dict() if isinstance(config, cfg.TrainConfig) else dict(config)
    reference = cfg.get_preset(preset).to_dict()
    return {k: v for k, v in values.items() if k in reference and reference[k] != v}


def start_from_run(form_key: str, config: dict) -> None:
    """Make the next drawing of form ``form_key`` start from ``config`` (a run's settings)."""
    from glaucoma_core.workbench.catalog import nearest_preset

    preset = nearest_preset(config).split(" +")[0] or "cpu-small"
    st.session_state[FROM_RUN] = {"form": form_key, "preset": preset, "set": differences(config, preset)}


def restore(key: str):
    """Before the form is drawn: the preset picker set to the remembered preset, and the
    ``base`` callable for ``preset_and_form`` (preset name -> the remembered values or None)."""
    pending = st.session_state.get(FROM_RUN)
    if pending and pending.get("form") == key:
        st.session_state.pop(FROM_RUN)
        for widget in [k for k in st.session_state if str(k).startswith(f"{key}_")]:
            del st.session_state[widget]  # the form's widgets start again from the run's values
        st.query_params[key] = json.dumps({"preset": pending["preset"], "set": pending["set"]}, sort_keys=True)
    memory = _memory(key)
    if memory and f"{key}_preset" not in st.session_state:
        st.session_state[f"{key}_preset"] = memory["preset"]

    def base(preset: str):
        if not memory or memory["preset"] != preset or not memory["set"]:
            return None
        try:
            return cfg.TrainConfig.from_dict({**cfg.get_preset(preset).to_dict(), **memory["set"]})
        except (cfg.ConfigError, TypeError, ValueError):
            return None  # an edited URL with values that no longer parse: the preset

    return base


def remember(key: str, config: cfg.TrainConfig | None) -> None:
    """After the form is drawn: write its preset and changed fields to the URL."""
    preset = st.session_state.get(f"{key}_preset")
    if config is None or preset not in cfg.PRESETS:
        return
    text = json.dumps({"preset": preset, "set": differences(config, preset)}, sort_keys=True, default=str)
    if len(text) <= MAX_PARAM and st.query_params.get(key) != text:
        st.query_params[key] = text
