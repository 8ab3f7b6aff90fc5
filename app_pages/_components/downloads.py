"""Download buttons for a run's results: model file, predictions, metrics (read when clicked)."""

from __future__ import annotations

from pathlib import Path

import streamlit as st


def run_downloads(store, run_id: int, key: str) -> None:
    """Buttons for the run's ``.keras`` model, its predictions and per-epoch metrics as CSV."""
    from glaucoma_core.store import ModelFileProblem

    c1, c2, c3 = st.columns(3)
    try:  # the file is checked to be this run's own (identity and sha256) before it is offered
        model_path = Path(store.verified_model_path(run_id))
    except ModelFileProblem as exc:
        c1.caption(f"No model to download: {exc}")
    else:
        c1.download_button(
            "Model (.keras)", data=lambda: model_path.read_bytes(), file_name=f"run_{run_id}.keras",
            mime="application/octet-stream", key=f"{key}_model", icon=":material/download:",
        )
    c2.download_button(
        "Predictions (CSV)", data=lambda: store.predictions([run_id]).to_csv(index=False),
        file_name=f"run_{run_id}_predictions.csv", mime="text/csv", key=f"{key}_pred", icon=":material/download:",
    )
    c3.download_button(
        "Epoch metrics (CSV)", data=lambda: store.epochs([run_id]).to_csv(index=False),
        file_name=f"run_{run_id}_epochs.csv", mime="text/csv", key=f"{key}_epochs", icon=":material/download:",
    )
