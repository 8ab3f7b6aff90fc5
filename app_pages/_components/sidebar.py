"""The shared sidebar: which dataset is active, where the run store is."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from app_pages._components.context import CONTEXT_KEY, AppContext, set_context
from app_pages._components.loaders import demo_dataset
from glaucoma_core.data.access import data_root
from glaucoma_core.paths import home_dir

DEMO = "Demo dataset"
FOLDER = "A folder"


def _resolve_folder(text: str) -> tuple[Path | None, str | None]:
    """(folder, None) when ``text`` names an allowed dataset folder, else (None, reason)."""
    text = text.strip()
    if not text:
        return None, "Type the folder of a dataset."
    allowed = data_root()
    if allowed:
        from glaucoma_core.data.access import resolve_data_folder

        try:
            return Path(resolve_data_folder(text, allowed_root=allowed)), None
        except Exception as exc:  # the access layer's UserFacingError carries the message
            return None, str(exc)
    path = Path(text).expanduser()
    if not path.exists():
        return None, f"{path}: no such folder."
    if not path.is_dir():
        return None, f"{path}: not a folder."
    return path.resolve(), None


def get_context() -> AppContext:
    """The context the sidebar set in this run (drawing the sidebar when a page runs alone)."""
    context = st.session_state.get(CONTEXT_KEY)
    return context if context is not None else render_sidebar()


def render_sidebar() -> AppContext:
    """Draw the sidebar, store the chosen context in the session and return it."""
    home = home_dir()
    allowed = data_root()
    with st.sidebar:
        st.markdown("### Dataset")
        choice = st.radio(
            "Active dataset",
            [DEMO, FOLDER],
            key="sidebar_dataset_choice",
            horizontal=True,
            label_visibility="collapsed",
        )
        context = None
        if choice == FOLDER:
            if allowed:
                help_text = f"A folder under {allowed} (GLAUCOMA_DATA_ROOT), for example `glaucoma/folds`."
                label = "Folder (relative to the data root)"
            else:
                help_text = (
                    "The paper's layout (fold_1/train/normal, …) or a flat one (normal/, abnormal/)."
                )
                label = "Folder path"
            text = st.text_input(label, key="sidebar_dataset_folder", help=help_text)
            folder, problem = _resolve_folder(text)
            if folder is None:
                st.warning(f"{problem} Using the demo dataset meanwhile.")
            else:
                context = AppContext(data_root=folder, data_label=str(folder), is_demo=False, home=home)
        if context is None:
            root = demo_dataset(str(home))
            context = AppContext(data_root=root, data_label="demo dataset", is_demo=True, home=home)
        st.caption(f"Data: `{context.data_root}`")
        st.markdown("### Run store")
        st.caption(f"`{home}`  \nSet `GLAUCOMA_HOME` to move it.")
        from app_pages._components.bench import viewer

        for message in viewer(home).store.warnings:  # e.g. run folders the store has no row for
            st.warning(message, icon=":material/warning:")
    set_context(context)
    return context
