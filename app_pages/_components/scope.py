"""What the pages list: only the runs and experiments of the active dataset, not archived.

Every page that offers runs or experiments (Train, Cross-validation, Compare, False
negatives, Classify, Runs) lists those recorded on the dataset chosen in the sidebar
(``data_root`` compared with the sidebar's folder, symlinks resolved) and names that dataset.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from glaucoma_core.workbench.catalog import same_dataset


def _archived(store, kind: str) -> set[int]:
    notes = store.annotations(kind)
    return set(int(i) for i in notes.loc[notes["archived"], "id"])


def scoped(frame: pd.DataFrame, ctx, store, kind: str) -> pd.DataFrame:
    """The rows of ``frame`` (``store.runs()`` for kind 'run', ``store.experiments()`` for
    'experiment') recorded on the active dataset and not archived."""
    if frame.empty:
        return frame
    keep = [same_dataset(root, ctx.data_root) for root in frame["data_root"]]
    frame = frame[keep]
    hidden = _archived(store, kind)
    return frame[~frame["id"].isin(hidden)] if hidden else frame


def runs(store, ctx, experiment_id: int | None = None) -> pd.DataFrame:
    """The runs of the active dataset (all, or one experiment's), newest first."""
    return scoped(store.runs(experiment_id), ctx, store, "run")


def experiments(store, ctx) -> pd.DataFrame:
    """The experiments of the active dataset, newest first."""
    return scoped(store.experiments(), ctx, store, "experiment")


def caption(ctx, hidden: int = 0) -> None:
    """'Runs and experiments of the demo dataset (…)': says which dataset the lists are of."""
    extra = f" · {hidden} of other datasets not listed (choose their dataset in the sidebar)" if hidden else ""
    st.caption(f"Runs and experiments of **{ctx.data_label}**{extra}.")
