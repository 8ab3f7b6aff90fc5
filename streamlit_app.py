"""Glaucoma workbench: ``streamlit run streamlit_app.py``.

The entry point draws the shared sidebar (active dataset, run store) and routes to one of
six views in ``app_pages/``. Pages lay out what :mod:`glaucoma_core` computes.

The folder is not called ``pages/`` on purpose: Streamlit treats a ``pages/`` folder beside
the entry point as an old-style multipage app and then ignores ``st.navigation`` (its
titles, icons and order).
"""

from __future__ import annotations

import streamlit as st

from app_pages._components.sidebar import render_sidebar

st.set_page_config(page_title="Glaucoma workbench", page_icon=":material/visibility:", layout="wide")

PAGES = [
    st.Page("app_pages/dataset.py", title="Dataset", icon=":material/photo_library:", default=True),
    st.Page("app_pages/train.py", title="Train", icon=":material/model_training:"),
    st.Page("app_pages/cross_validation.py", title="Cross-validation", icon=":material/view_column:"),
    st.Page("app_pages/runs.py", title="Runs", icon=":material/table_rows:"),
    st.Page("app_pages/studies.py", title="Studies", icon=":material/leaderboard:"),
    st.Page("app_pages/compare.py", title="Compare", icon=":material/compare_arrows:"),
    st.Page("app_pages/false_negatives.py", title="False negatives", icon=":material/report:"),
    st.Page("app_pages/external.py", title="External validation", icon=":material/travel_explore:"),
    st.Page("app_pages/classify.py", title="Classify", icon=":material/upload_file:"),
]

page = st.navigation(PAGES)
render_sidebar()
page.run()
