"""Classify view: upload fundus photographs, get P(glaucoma), a decision and a Grad-CAM map."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app_pages._components import bench as workbench
from app_pages._components import pickers, preparation_view, scope
from app_pages._components.loaders import dataset_index
from app_pages._components.sidebar import get_context
from app_pages._components.text import md_escape
from glaucoma_core.data.upload_similarity import unlike_training
from glaucoma_core.data.uploads import ACCEPTED_TYPES, check_upload
from glaucoma_core.errors import UserError

DETAIL_LIMIT = 6  # images shown in full detail; the rest only in the table

ctx = get_context()
st.title("Classify")
st.caption(
    "Upload fundus photographs. Nothing is written to disk; file names are only displayed. "
    "A research tool, not a diagnosis."
)

bench = workbench.viewer(ctx.home)
store = bench.store
runs = scope.runs(store, ctx)
scope.caption(ctx, len(store.runs()) - len(runs))
finished = runs[runs["status"] == "finished"]
if finished.empty:
    st.info("No trained model yet: train one on the Train page (or run a cross-validation), then come back.")
    st.page_link("app_pages/train.py", label="Go to Train", icon=":material/model_training:")
    st.stop()

source = st.radio(
    "Model", ["One run", "A cross-validation experiment (mean of its fold models)"], horizontal=True,
    key="classify_source",
)
if source == "One run":
    run_id = pickers.pick_run(runs, key="classify_run", label="Trained run (best validation AUC first)")
    run_ids = [run_id]
    model_name = f"run {run_id}"
else:
    experiments = scope.experiments(store, ctx)
    exp_id = pickers.pick_experiment(experiments, key="classify_experiment")
    if exp_id is None:
        st.info("No cross-validation experiment with a finished fold yet: launch one on the Cross-validation page.")
        st.stop()
    exp_runs = store.runs(experiment_id=exp_id)
    run_ids = [int(r) for r in exp_runs.loc[exp_runs["status"] == "finished", "id"]]
    model_name = f"experiment {exp_id} ({len(run_ids)} fold models)"

rule = pickers.pick_threshold_method("classify_threshold")
choice, note = bench.decision_threshold(run_ids, rule)
st.caption(
    f"Decision: glaucoma when P(glaucoma) ≥ **{choice.threshold:.3f}** ({pickers.THRESHOLD_METHODS[choice.method]}"
    + (f", on {choice.n_valid} validation images" if choice.n_valid else "")
    + ")."
)
if note:
    st.warning(f"Threshold: {note}.")

models = []
for rid in run_ids:
    try:
        models.append((rid, workbench.load_model(bench, rid)))
    except UserError as exc:  # missing, corrupt or unsafe model file
        st.error(f"Run {rid}: its model cannot be used: {exc}")
if not models:
    st.stop()

max_mb = int(st.get_option("server.maxUploadSize"))
uploads = st.file_uploader(
    f"Fundus photographs ({', '.join(ACCEPTED_TYPES)}; up to {max_mb} MB each)",
    type=list(ACCEPTED_TYPES), accept_multiple_files=True, key="classify_upload",
)
if not uploads:
    st.info("Upload one or more images to classify them.")
    st.stop()

checks = [check_upload(f.getvalue(), f.name, max_bytes=max_mb * 1024 * 1024) for f in uploads]
for check in checks:
    if check.error:
        st.error(f"**{md_escape(check.name)}**: {md_escape(check.error)}", icon=":material/block:")
good = [c for c in checks if c.ok]
if not good:
    st.stop()


def _training_profile():
    """The size profile of the images the chosen model(s) were trained on (None if unknown)."""
    from pathlib import Path

    from glaucoma_core.data.upload_similarity import size_profile

    root = runs.set_index("id").loc[run_ids[0], "data_root"] if run_ids[0] in set(runs["id"]) else None
    if not isinstance(root, str) or not Path(root).is_dir():
        return None
    try:
        return size_profile(dataset_index(Path(root), ctx.home))
    except Exception:  # the training folder moved or is unreadable: no comparison, no crash
        return None

profile = _training_profile()
unlike = {c.name: unlike_training(c.width, c.height, profile) for c in good}

with st.spinner(f"Classifying {len(good)} image(s) with {model_name}…"):
    try:  # the uploaded bytes, decoded exactly as a training image of the same file would be
        classified = bench.classify(models, [uploads[checks.index(c)].getvalue() for c in good], choice.threshold)
    except UserError as exc:
        st.error(str(exc))
        st.stop()
batch = classified["inputs"]
size = batch.shape[1]
summary = classified["summary"]
summary.insert(0, "image", [c.name for c in good])
summary["notes"] = ["; ".join([*c.notes, *([unlike[c.name]] if unlike.get(c.name) else [])]) for c in good]
_cam_fold = runs.set_index("id")["fold"].get(models[0][0])
cam_model = f"run {models[0][0]}" + ("" if _cam_fold is None or pd.isna(_cam_fold) else f", fold {int(_cam_fold)}")

if len(good) > 1:
    st.subheader("Results")
    columns = ["image", "probability", "decision", "notes"]
    if len(models) > 1:
        columns[2:2] = ["sd", "low", "high"]
    st.dataframe(
        summary[columns], hide_index=True, width="stretch",
        column_config={"probability": st.column_config.ProgressColumn("P(glaucoma)", min_value=0, max_value=1, format="%.3f")},
    )
    export = summary.assign(model=model_name, threshold=choice.threshold, threshold_method=choice.method)
    st.download_button(
        "Download the results (CSV)", export.to_csv(index=False).encode(), file_name="classification.csv",
        mime="text/csv",
    )

st.subheader("Details" if len(good) > 1 else "Result")
if len(good) > DETAIL_LIMIT:
    st.caption(f"The first {DETAIL_LIMIT} images; all are in the table above.")
for i, check in enumerate(good[:DETAIL_LIMIT]):
    row = summary.iloc[i]
    with st.container(border=True):
        st.markdown(f"**{md_escape(check.name)}** · {check.width} × {check.height} px · {check.mode}")
        for note_text in check.notes:
            st.warning(note_text, icon=":material/info:")
        if unlike.get(check.name):
            st.warning(unlike[check.name], icon=":material/warning:")
        c1, c2, c3, c4 = st.columns([1, 1, 1, 1])
        c1.image(check.image, caption="uploaded", width="stretch")
        c2.image(batch[i], caption=f"model input ({size} × {size})", width="stretch")
        try:
            cam = bench.gradcam(models[0][0], batch[i], model=models[0][1])
            c3.image(cam["overlay"], caption=f"Grad-CAM ({cam_model})", width="stretch")
        except UserError as exc:  # a backbone without a reachable conv layer: say so, keep the rest
            c3.info(f"Grad-CAM unavailable: {exc}")
        c4.metric("P(glaucoma)", f"{row['probability']:.3f}")
        if len(models) > 1:
            c4.caption(f"fold models: sd {row['sd']:.3f}, range {row['low']:.3f}–{row['high']:.3f}")
        verdict = row["decision"]
        c4.markdown(f"Decision: :{'red' if verdict == 'glaucoma' else 'green'}-badge[{verdict}]")
        c4.caption(f"threshold {choice.threshold:.3f}")

if len(models) > 1:
    st.caption(f"Grad-CAM shows the model of {cam_model}; the probability is the mean of all "
               f"{len(models)} fold models.")

# ---- fundus preparation (issue 16): the detected field and disc and the input the model saw ----

with st.expander("Fundus preparation: detected field and disc, the prepared input", expanded=False):
    preparation_view.classify_section(
        [uploads[checks.index(c)].getvalue() for c in good[:DETAIL_LIMIT]], [c.name for c in good[:DETAIL_LIMIT]],
        size, store.run(models[0][0]).get("config") or {})
