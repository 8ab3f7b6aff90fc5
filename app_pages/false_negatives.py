"""False negatives view: missed glaucoma, the threshold that trades them, calibration."""

from __future__ import annotations

import streamlit as st

from app_pages._components import bench as workbench
from app_pages._components import gallery, pickers, scope
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
if st.session_state.get("fn_threshold_for") != reference:  # another run or experiment: start again
    st.session_state["fn_threshold_for"] = reference
    st.session_state["fn_threshold"] = float(round(youden, 2))
    st.session_state.pop("fn_gallery_rule", None)
pending = st.session_state.pop("fn_apply_threshold", None)
if pending is not None:  # "Use this threshold" below: the slider takes it before it is drawn
    st.session_state["fn_threshold"] = float(pending)
threshold = st.slider("Threshold on P(glaucoma)", 0.0, 1.0, step=0.001, format="%.3f",
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
fold_thresholds = None  # {fold: threshold} when the galleries follow a rule chosen on validation
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
            if st.button(f"Use {thr:.3f} for the threshold and the galleries", key="fn_use_chosen"):
                st.session_state["fn_apply_threshold"] = float(thr)
                st.rerun()
        else:
            result = workbench.evaluate(bench, reference, ThresholdRule("target_sensitivity", target))
            pooled = result["pooled"]
            st.markdown(
                f"Each fold's threshold chosen on its validation images for sensitivity ≥ {target:.2f}. On the pooled "
                f"test images: sensitivity **{pooled['sensitivity']:.3f}**, specificity **{pooled['specificity']:.3f}**, "
                f"**{int(pooled['fn'])}** missed glaucoma."
            )
            follow = st.toggle("Galleries use these per-fold thresholds (instead of the slider)", key="fn_gallery_rule")
            if follow:
                fold_thresholds = {int(f): float(c["threshold"]) for f, c in result["thresholds"].items()}
    except (ValueError, UserError) as exc:
        st.warning(f"Cannot choose a threshold: {exc}")

# ---- galleries ----------------------------------------------------------------------------
rows = test.copy()
rows["threshold"] = rows["fold"].map(fold_thresholds).astype(float) if fold_thresholds else float(threshold)
rule_words = (f"each fold's threshold for sensitivity ≥ {target:.2f} on validation" if fold_thresholds
              else f"threshold {threshold:.3f}")
missed = rows[(rows["label"] == 1) & (rows["probability"] < rows["threshold"])].sort_values("probability")
alarms = rows[(rows["label"] == 0) & (rows["probability"] >= rows["threshold"])].sort_values("probability",
                                                                                             ascending=False)
st.subheader("Errors at this threshold")
show_cam = st.toggle("Grad-CAM overlays", value=True, key="fn_gradcam",
                     help="Where the model looked: the glaucoma logit's Grad-CAM at the last conv layer, "
                          "coloured in proportion to its strength.")
tab_fn, tab_fp = st.tabs([f"Missed glaucoma (FN): {len(missed)}", f"False alarms (FP): {len(alarms)}"])
name = reference.replace(":", "_")
with tab_fn:
    if missed.empty:
        nearest = rows[rows["label"] == 1].sort_values("probability").head(GALLERY_SIZE)
        st.success(f"No glaucoma image is missed at {rule_words}. The {len(nearest)} glaucoma images with the lowest "
                   "probability are shown: the nearest to being missed.")
        gallery.show(bench, nearest, "fn_near", limit=GALLERY_SIZE, grad_cam=show_cam,
                     csv_name=f"{name}_glaucoma_lowest.csv")
    else:
        st.caption(f"{len(missed)} missed at {rule_words}; the {min(len(missed), GALLERY_SIZE)} with the lowest "
                   "probability first.")
        gallery.show(bench, missed, "fn_missed", limit=GALLERY_SIZE, grad_cam=show_cam,
                     csv_name=f"{name}_missed_glaucoma.csv")
with tab_fp:
    if alarms.empty:
        st.success(f"No normal image is called glaucoma at {rule_words}.")
    else:
        st.caption(f"{len(alarms)} normal images called glaucoma at {rule_words}; the highest probability first.")
        gallery.show(bench, alarms, "fn_alarms", limit=GALLERY_SIZE, grad_cam=show_cam,
                     csv_name=f"{name}_false_alarms.csv")

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
st.subheader("Precision-recall")
try:
    st.altair_chart(charts.precision_recall_chart(test, group="fold"), width="content")
except ValueError as exc:
    st.info(f"No precision-recall curve: {exc}")
