"""External validation view: stored external evaluations, the missed glaucoma images with
Grad-CAM, the dataset shift, and each experiment's metadata baseline.

Every figure comes from the workbench (``Workbench.validate_external``,
``Workbench.metadata_baseline``) and the stored results, exactly as ``validate`` and ``baseline``
print them.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app_pages._components import bench as workbench
from app_pages._components import pickers
from app_pages._components.baseline_view import baseline_section
from app_pages._components.loaders import thumbnail
from app_pages._components.modeling import gradcam_overlays
from app_pages._components.sidebar import get_context
from glaucoma_core.errors import UserError
from glaucoma_core.store.external_results import list_external, read_external
from glaucoma_core.workbench import ThresholdRule, experiment_ref

GALLERY_SIZE = 12
FIGURES = ["auc", "sensitivity", "specificity", "sens_at_spec85", "sens_at_spec95", "pauc_spec90", "ece", "threshold",
           "fn"]

ctx = get_context()
st.title("External validation")
st.caption("A model that scores well on its own folds can fall apart on another clinic's camera. Here each "
           "experiment's fold models and their ensemble are tested on another dataset, at the thresholds the "
           "experiment chose on its own validation images.")
bench = workbench.viewer(ctx.home)
experiments = bench.store.experiments()

# ---- run a new validation -----------------------------------------------------------------
with st.expander("Validate an experiment on another dataset", expanded=False):
    exp_id = pickers.pick_experiment(experiments, key="ext_new_experiment")
    other = st.text_input("External dataset folder", key="ext_data",
                          help="Any dataset the workbench reads (flat or fold layout); every usable image is a test image.")
    rule_method = st.selectbox("Threshold rule (chosen on the experiment's validation images)",
                               ["youden", "fixed", "max_f1"], key="ext_rule")
    if st.button("Validate", disabled=exp_id is None or not other.strip(), key="ext_go"):
        try:
            with st.spinner("Predicting the external images with every fold model…"):
                rule = ThresholdRule("fixed", 0.5) if rule_method == "fixed" else ThresholdRule(rule_method, None)
                done = workbench.actor(ctx.home).validate_external(experiment_ref(exp_id), other.strip(), rule)
            st.success(f"Stored as external evaluation {done['id']}: ensemble AUC {done['ensemble']['auc']:.3f}")
        except UserError as exc:
            st.error(str(exc))

# ---- stored evaluations -------------------------------------------------------------------
table = list_external(bench.store)
if table.empty:
    st.info("No external evaluation yet: validate an experiment above, or run "
            "`python -m glaucoma_core validate exp:N --data OTHER`.")
else:
    st.subheader("Stored external evaluations")
    shown = table.assign(target=[f"exp:{e}" if pd.notna(e) else f"run:{r}"
                                 for e, r in zip(table["experiment_id"], table["run_id"], strict=True)])
    st.dataframe(shown[["id", "target", "data_root", "images", "auc", "auc_low", "auc_high", "internal_auc",
                        "distance"]], hide_index=True, width="stretch")
    chosen = st.selectbox("Evaluation", list(table["id"]), key="ext_pick",
                          format_func=lambda i: f"{i}: {shown.set_index('id').loc[i, 'target']} on "
                                                f"{shown.set_index('id').loc[i, 'data_root']}")
    record = read_external(bench.store, int(chosen))
    result, predictions = record["result"], record["predictions"]
    ens, internal, drop, shift = result["ensemble"], result["internal"], result.get("drop"), result["shift"]
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("External AUC (ensemble)", f"{ens['auc']:.3f}",
              help=f"95% DeLong interval {ens['auc_ci95'][0]:.3f}-{ens['auc_ci95'][1]:.3f}")
    c2.metric("Internal AUC", f"{internal['auc']:.3f}", help=internal["what"])
    if drop:
        c3.metric("Drop", f"{drop['difference']:.3f}", help=f"95% interval {drop['ci95'][0]:.3f} to {drop['ci95'][1]:.3f}")
    c4.metric("Missed glaucoma (FN)", int(ens["fn"]), help=f"of {result['images']['n_glaucoma']} glaucoma images")
    rows = [{"model": "fold ensemble", **{k: ens.get(k) for k in FIGURES}}]
    rows += [{"model": f"fold {f['fold']} (run {f['run_id']})", **{k: f.get(k) for k in FIGURES}} for f in result["folds"]]
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    st.caption(f"Threshold rule: {result['threshold_rule_text']}; ensemble threshold from {ens['threshold_source']}. "
               f"Mean doubt (sd of P over folds): {ens['mean_doubt']:.3f}.")
    optimistic = ens.get("optimistic") or {}
    if optimistic.get("threshold") is not None:
        st.caption(f"Optimistic only: a threshold re-chosen on the external labels ({optimistic['method']}) would be "
                   f"{optimistic['threshold']:.3f} - tuned on the test set, not an estimate.")
    if result.get("warning"):
        st.warning(result["warning"])

    st.subheader("Dataset shift")
    distance = shift.get("distance")
    if distance is None:
        st.info(shift["warning"])
    else:
        (st.warning if shift.get("flagged") else st.info)(shift["warning"])
        if shift.get("table"):
            st.dataframe(pd.DataFrame(shift["table"]), hide_index=True, width="stretch")

    st.subheader("Missed glaucoma images of the external set")
    missed = predictions[(predictions["label"] == 1) & (predictions["called"] == 0)].sort_values("probability") \
        if not predictions.empty else predictions
    if missed.empty:
        st.success("The ensemble misses no external glaucoma image.")
    else:
        shown_missed = missed.head(GALLERY_SIZE)
        overlays = {}
        runs_of = [f["run_id"] for f in result["folds"]]
        if st.toggle("Grad-CAM overlays (first fold model)", value=False, key="ext_gradcam") and runs_of:
            try:
                model = workbench.load_model(bench, int(runs_of[0]))
                images = {p: thumbnail(p, 384) for p in shown_missed["path"]}
                readable = {p: img for p, img in images.items() if not isinstance(img, str)}
                overlays = dict(zip(readable, gradcam_overlays(model, list(readable.values())), strict=True))
            except Exception as exc:  # noqa: BLE001 - the gallery still shows the images
                st.warning(f"Grad-CAM unavailable: {exc}")
        cols = st.columns(6)
        for i, row in enumerate(shown_missed.itertuples()):
            with cols[i % 6]:
                image = overlays.get(row.path)
                image = thumbnail(row.path, 384) if image is None else image
                if isinstance(image, str):
                    st.caption(image)
                else:
                    st.image(image, width="stretch")
                st.caption(f"P = {row.probability:.3f} ± {row.doubt:.3f}")

# ---- metadata baseline --------------------------------------------------------------------
st.subheader("Metadata baseline")
base_id = pickers.pick_experiment(experiments, key="ext_baseline_experiment")
if base_id is not None:
    baseline_section(bench, base_id, key="ext_baseline")
