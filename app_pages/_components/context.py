"""The active dataset and run store of this browser session, as chosen in the sidebar."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import streamlit as st

CONTEXT_KEY = "_app_context"


@dataclass(frozen=True)
class AppContext:
    """What every page works on.

    data_root: folder of the active dataset (already validated).
    data_label: how to name it to the user ("demo dataset" or the folder).
    is_demo: True when the generated demo dataset is active.
    home: the workbench home (run store, models, caches).
    """

    data_root: Path
    data_label: str
    is_demo: bool
    home: Path


def set_context(context: AppContext) -> None:
    st.session_state[CONTEXT_KEY] = context
