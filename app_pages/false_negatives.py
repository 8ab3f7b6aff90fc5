"""False negatives view: missed glaucoma, the threshold that trades them, calibration."""

from __future__ import annotations

import numpy as np
import streamlit as st

from app_pages._components import bench as workbench
from app_pages._components import pickers, scope
from app_pages._components.loaders import thumbnail
from app_pages._components.modeling import gradcam_overlays
from app_pages._components.sidebar import get_context
from glaucoma_core import charts
from glaucoma_core.errors import UserError
from glaucoma_core.evaluation.calibration import expected_calibration_error, reliability_curve
from glaucoma_core.evaluation.cv_summary import dedupe_per_fold, per_fold_table
from glaucoma_core.evaluation.metrics import classification_metrics
from glaucoma_core.evaluation.thresholds import choose_and_apply, threshold_from_predictions, threshold_sweep
from glaucoma_core.workbench import ThresholdRule, experiment_ref, run_ref

GALLERY_SIZE = 12

ctx = get_context()
st.title("False negatives")
st.caption("A false negative is a glaucoma image the model calls normal: the error that matters most in screening.")
bench = workbench.viewer(ctx.home)
store = bench.store
runs = scope.runs(store, ctx)
scope.caption(ctx, len(store.runs()) - len(runs))
if runs.empty or not (runs["status"] == "finished").any():
    st.info("No finished run yet: train one on the Train page, then come back to see what it misses.")
    st.stop()

mode = st.radio("For", ["A run", "An experiment (all folds pooled)"], horizontal=True, key="fn_mode")
if mode == "A run":
    run_id = pickers.pick_run(runs, key="fn_run")
    reference = run_ref(run_id)
else:
    exp_id = pickers.pick_experiment(scope.experiments(store, ctx), key="fn_experiment")
    if exp_id is None:
        st.info("No experiment with a finished fold yet: launch one on the Cross-validation page.")
        st.stop()
    reference = experiment_ref(exp_id)
predictions = bench.predictions(reference)
test = dedupe_per_fold(predictions[predictions["split"] == "test"])
if test.empty or test["label"].nunique() < 2:
    st.warning("These predictions lack test images of both classes; nothing to analyse.")
    st.stop()
labels, probs = test["label"].to_numpy(), test["probability"].to_numpy()

# ---- threshold slider ---------------------------------------------------------------------
try:
    youden = threshold_from_predictions(predictions, "youden").threshold
except ValueError:
    youden = 0.5
threshold = st.slider("Threshold on P(glaucoma)", 0.0, 1.0, value=float(round(youden, 2)), step=0.01,
                      key="fn_threshold", help="Starts at Youden's J chosen on the validation images.")
at = classification_metrics(labels, probs, threshold)
c1, c2, c3, c4 = st.columns(4)
c1.metric("Sensitivity", f"{at['sensitivity']:.3f}")
c2.metric("Specificity", f"{at['specificity']:.3f}")
c3.metric("Missed glaucoma (FN)", int(at["fn"]), help=f"of {int(at['n_glaucoma'])} glaucoma test images")
c4.metric("False alarms (FP)", int(at["fp"]))
g1, g2 = st.columns([1, 2])
g1.altair_chart(charts.confusion_matrix_chart(at["tp"], at["fp"], at["tn"], at["fn"]), width="content")
g2.altair_chart(charts.threshold_sweep_chart(threshold_sweep(labels, probs), threshold), width="stretch")

# ---- a threshold chosen on validation for a target sensitivity ------------------------------
with st.container(border=True):
    st.markdown("**Choose on validation, check on test**")
    target = st.slider("Target sensitivity", 0.5, 1.0, 0.9, 0.01, key="fn_target")
    try:
        if mode == "A run":
            chosen = choose_and_apply(predictions, "target_sensitivity", target)
            thr, tm = chosen["choice"]["threshold"], chosen["metrics"]
            valid_sens = chosen["choice"]["valid_sensitivity"]
            st.markdown(
                f"Threshold **{thr:.3f}** reaches sensitivity {valid_sens:.3f} on validation. On test it gives "
                f"sensitivity **{tm['sensitivity']:.3f}**, specificity **{tm['specificity']:.3f}**, "
                f"**{int(tm['fn'])}** missed glaucoma."
            )
        else:
            pooled = workbench.evaluate(bench, reference, ThresholdRule("target_sensitivity", target))["pooled"]
            st.markdown(
                f"Each fold's threshold chosen on its validation images for sensitivity ≥ {target:.2f}. On the pooled "
                f"test images: sensitivity **{pooled['sensitivity']:.3f}**, specificity **{pooled['specificity']:.3f}**, "
                f"**{int(pooled['fn'])}** missed glaucoma."
            )
    except (ValueError, UserError) as exc:
        st.warning(f"Cannot choose a threshold: {exc}")

# ---- gallery ----------------------------------------------------------------------------
st.subheader("Missed glaucoma at this threshold")
missed = test[(test["label"] == 1) & (test["probability"] < threshold)].sort_values("probability")
if missed.empty:
    st.success("No glaucoma image is missed at this threshold.")
else:
    st.caption(f"{len(missed)} missed; the {min(len(missed), GALLERY_SIZE)} with the lowest probability first.")
    show_cam = st.toggle("Grad-CAM overlays", value=True, key="fn_gradcam",
                         help="Where the model looked (heat map of the glaucoma logit at the last conv layer).")
    shown = missed.head(GALLERY_SIZE)
    overlays: dict[str, np.ndarray] = {}
    if show_cam:
        for run, group in shown.groupby("run_id"):
            try:
                model = workbench.load_model(bench, int(run))
                images = {p: thumbnail(p, 384) for p in group["path"]}
                readable = {p: img for p, img in images.items() if not isinstance(img, str)}
                for path, overlay in zip(readable, gradcam_overlays(model, list(readable.values())), strict=True):
                    overlays[path] = overlay
            except Exception as exc:  # a missing model file: the gallery still shows the images
                st.warning(f"Grad-CAM unavailable for run {int(run)}: {exc}")
    cols = st.columns(6)
    for i, row in enumerate(shown.itertuples()):
        with cols[i % 6]:
            image = overlays.get(row.path)
            if image is None:
                image = thumbnail(row.path, 384)
            if isinstance(image, str):
                st.caption(image)
            else:
                st.image(image, width="stretch")
            st.caption(f"P = {row.probability:.3f} · fold {row.fold}")

# ---- per fold and calibration -------------------------------------------------------------
f1, f2 = st.columns(2)
with f1:
    st.subheader("FN rate per fold")
    if test["fold"].nunique() > 1:
        table = per_fold_table(predictions, threshold)
        st.dataframe(table[["fold", "n_glaucoma", "fn", "fn_rate", "sensitivity"]], hide_index=True, width="stretch",
                     column_config={"fn_rate": st.column_config.ProgressColumn("FN rate", min_value=0, max_value=1,
                                                                               format="percent")})
    else:
        st.metric("FN rate (one fold)", f"{at['fn_rate']:.1%}")
with f2:
    st.subheader("Calibration")
    curve = reliability_curve(labels, probs, n_bins=10)
    st.altair_chart(charts.reliability_diagram(curve), width="stretch")
    st.caption(f"Expected calibration error: {expected_calibration_error(labels, probs):.3f} "
               "(0 = probabilities mean what they say).")
