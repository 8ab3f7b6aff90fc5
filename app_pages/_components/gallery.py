"""A gallery of test images (missed glaucoma, false alarms): thumbnails named by file and fold,
optional Grad-CAM, click to enlarge (file, fold, probability, threshold, Grad-CAM), CSV."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import streamlit as st

from app_pages._components import bench as workbench
from app_pages._components.loaders import full_image, thumbnail
from app_pages._components.modeling import gradcam_overlays
from app_pages._components.text import md_escape

COLUMNS = 6
CSV_COLUMNS = ["path", "fold", "run_id", "split", "label", "probability", "threshold"]


def file_name(path: str) -> str:
    return os.path.basename(str(path)) or str(path)


def _overlays(bench, rows: pd.DataFrame, size: int) -> dict[str, np.ndarray]:
    overlays: dict[str, np.ndarray] = {}
    for run, group in rows.groupby("run_id"):
        try:
            model = workbench.load_model(bench, int(run))
            images = {p: thumbnail(p, size) for p in group["path"]}
            readable = {p: img for p, img in images.items() if not isinstance(img, str)}
            for path, overlay in zip(readable, gradcam_overlays(model, list(readable.values())), strict=True):
                overlays[path] = overlay
        except Exception as exc:  # a missing model file: the gallery still shows the images
            st.warning(f"Grad-CAM unavailable for run {int(run)}: {exc}")
    return overlays


@st.dialog("Image", width="large")
def enlarge(bench, row: dict) -> None:
    """The image at full size beside its Grad-CAM, with what identifies it."""
    st.markdown(f"**{md_escape(file_name(row['path']))}**")
    truth = "glaucoma" if int(row["label"]) == 1 else "normal"
    call = "glaucoma" if row["probability"] >= row["threshold"] else "normal"
    st.caption(f"fold {row['fold']} · run {row['run_id']} · truth **{truth}** · P(glaucoma) = "
               f"{row['probability']:.3f} · threshold {row['threshold']:.3f} → called {call}  \n`{md_escape(row['path'])}`")
    image = full_image(row["path"])
    if isinstance(image, str):
        st.error(f"Cannot show the image: {image}")
        return
    c1, c2 = st.columns(2)
    c1.image(image, caption="image", width="stretch")
    try:
        model = workbench.load_model(bench, int(row["run_id"]))
        c2.image(gradcam_overlays(model, [image])[0], caption=f"Grad-CAM (run {row['run_id']}, the fold's model)",
                 width="stretch")
    except Exception as exc:  # a missing model, or a backbone without a conv layer
        c2.info(f"Grad-CAM unavailable: {exc}")


def show(bench, rows: pd.DataFrame, key: str, *, limit: int, grad_cam: bool, csv_name: str) -> None:
    """Draw ``rows`` (columns path, fold, run_id, label, probability, threshold), the first
    ``limit`` as thumbnails, all in the CSV."""
    st.download_button(f"These {len(rows)} images (CSV)", rows.reindex(columns=CSV_COLUMNS).to_csv(index=False),
                       file_name=csv_name, mime="text/csv", icon=":material/download:", key=f"{key}_csv")
    shown = rows.head(limit)
    overlays = _overlays(bench, shown, 384) if grad_cam else {}
    cols = st.columns(COLUMNS)
    for i, row in enumerate(shown.to_dict(orient="records")):
        with cols[i % COLUMNS]:
            image = overlays.get(row["path"])
            if image is None:
                image = thumbnail(row["path"], 384)
            if isinstance(image, str):
                st.caption(image)
            else:
                st.image(image, width="stretch")
            st.caption(f"{md_escape(file_name(row['path']))}  \nfold {row['fold']} · P = {row['probability']:.3f}")
            if st.button("Enlarge", key=f"{key}_enlarge_{i}", icon=":material/zoom_in:"):
                enlarge(bench, row)
