"""Compare view: two or more runs or experiments side by side, with paired tests."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app_pages._components import bench as workbench
from app_pages._components import pickers, scope
from app_pages._components.loaders import thumbnail
from app_pages._components.sidebar import get_context
from glaucoma_core import charts
from glaucoma_core.errors import UserError
from glaucoma_core.evaluation.metrics import METRIC_LABELS
from glaucoma_core.workbench import experiment_ref, run_ref

SHOWN_METRICS = ("auc", "accuracy", "sensitivity", "specificity", "f1", "balanced_accuracy", "sens_at_spec85",
                 "sens_at_spec95", "brier", "fn", "fp")
MAX_DISAGREEMENTS = 18

ctx = get_context()
st.title("Compare")
bench = workbench.viewer(ctx.home)
store = bench.store
runs = scope.runs(store, ctx)
scope.caption(ctx, len(store.runs()) - len(runs))
finished = runs[runs["status"] == "finished"]
if len(finished) < 2:
    st.info("Comparing needs at least two finished runs: train another on the Train page, "
            "or run a cross-validation.")
    st.stop()

mode = st.radio("Compare", ["Runs", "Experiments"], horizontal=True, key="compare_mode")
rule = pickers.pick_threshold_method("compare_threshold", default="fixed")

items: list[dict] = []  # label, reference, config, metrics, predictions (test rows used), run_ids
if mode == "Runs":
    chosen = [run_ref(r) for r in pickers.pick_runs(runs, key="compare_runs", label="Runs (two or more)")]
else:
    chosen = [experiment_ref(e) for e in pickers.pick_experiments(scope.experiments(store, ctx), key="compare_experiments",
                                                                   label="Experiments (two or more)")]
for reference in chosen:
    try:
        result = workbench.evaluate(bench, reference, rule)
    except UserError as exc:
        st.warning(f"{reference}: {exc}")
        continue
    key = int(reference.split(":")[1])
    config = store.run(key)["config"] if mode == "Runs" else store.experiment(key)["config"]
    items.append({"label": reference.replace("run:", "run ").replace("exp:", "exp "), "reference": reference,
                  "config": config, "metrics": result["metrics"] if mode == "Runs" else result["pooled"],
                  "predictions": bench.predictions(reference), "run_ids": bench.finished_runs(reference)})
st.caption(f"Threshold: {rule.describe()}.")
if len(items) < 2:
    st.info("Choose at least two with results.")
    st.stop()

# ---- configuration differences -----------------------------------------------------------
st.subheader("Configuration: what differs")
configs = pd.DataFrame({item["label"]: pd.Series(item["config"]).map(str) for item in items})
differ = configs[configs.nunique(axis=1) > 1]
if differ.empty:
    st.caption("Same configuration (they differ only in data or fold).")
else:
    st.dataframe(differ, width="stretch")

# ---- metrics side by side ---------------------------------------------------------------
st.subheader("Metrics on the test images")


def _cell(key: str, value) -> str:
    if value is None or pd.isna(value):
        return "–"
    return str(int(value)) if key in ("fn", "fp") else f"{value:.3f}"


table = pd.DataFrame({item["label"]: {METRIC_LABELS.get(k, k.upper()): _cell(k, item["metrics"].get(k))
                                      for k in SHOWN_METRICS} for item in items})
st.dataframe(table, width="stretch")

# ---- curves ---------------------------------------------------------------------------
st.subheader("Training curves")
epoch_frames = []
for item in items:
    epochs = store.epochs(item["run_ids"])
    if len(epochs):
        fold_of = runs.set_index("id")["fold"]
        epochs["model"] = item["label"]  # the colour: one per run or experiment
        epochs["fold"] = [f"fold {fold_of.get(r)}" for r in epochs["run_id"]]  # an experiment's folds: lines
        epoch_frames.append(epochs)
if epoch_frames:
    epochs = pd.concat(epoch_frames, ignore_index=True)
    metric = st.selectbox("Curve", ["loss", "auc", "sensitivity", "specificity", "f1", "accuracy", "lr"],
                          key="compare_curve")
    st.altair_chart(charts.training_curves(epochs, metric=metric, run_column="model", detail_column="fold",
                                           color_title="run" if mode == "Runs" else "experiment"), width="stretch")
    st.caption("Solid: training images; dashed: validation images. An experiment's folds share its colour.")

test_rows = []
for item in items:
    rows = item["predictions"][item["predictions"]["split"] == "test"].copy()
    rows["model"] = item["label"]
    test_rows.append(rows)
st.subheader("ROC curves and confusion matrices")
try:
    # No mean curve here: the mean of two different models is no model's ROC.
    st.altair_chart(charts.roc_chart(pd.concat(test_rows), group="model", mean=False), width="content")
except ValueError as exc:
    st.info(f"No ROC curve: {exc}")
matrices = pd.DataFrame([{"model": item["label"], **{k: item["metrics"][k] for k in ("tp", "fp", "tn", "fn")}}
                         for item in items])
st.altair_chart(charts.confusion_matrix_grid(matrices, columns=min(len(items), 3)), width="content")
st.caption(f"Pooled test images at {rule.describe()}; one colour scale for all matrices.")

# ---- paired tests ---------------------------------------------------------------------
st.subheader("Paired tests against the first")
reference = items[0]
tests, matched_pairs = [], []
for other in items[1:]:
    try:
        result = workbench.compare(bench, reference["reference"], other["reference"], rule)
    except UserError as exc:
        st.warning(f"{reference['label']} vs {other['label']}: {exc}")
        continue
    other["images"] = result["images"]
    tests.append({
        "comparison": f"{reference['label']} vs {other['label']}", "shared test images": result["n_images"],
        "AUC difference": result["delong"].get("difference"), "DeLong p": result["delong"].get("p_value"),
        "McNemar p": result["mcnemar"].get("p_value"),
        "only A right": result["mcnemar"].get("a_right_b_wrong"), "only B right": result["mcnemar"].get("a_wrong_b_right"),
    })
    matched_pairs.append(other)
if tests:
    st.dataframe(pd.DataFrame(tests), hide_index=True, width="stretch",
                 column_config={c: st.column_config.NumberColumn(format="%.4f") for c in ("AUC difference", "DeLong p", "McNemar p")})
    st.caption("DeLong: are the two AUCs different on the same images? McNemar: do the two models err on "
               "different images at their thresholds? Small p (< 0.05) = a difference unlikely to be chance.")

# ---- disagreements --------------------------------------------------------------------
if matched_pairs:
    other = st.selectbox("Images on which they disagree", [o["label"] for o in matched_pairs], key="compare_disagree")
    other_item = next(o for o in matched_pairs if o["label"] == other)
    images = other_item["images"]  # matched by the comparison itself: the same images as the tests above
    disagree = images[images["disagree"]]
    st.caption(f"{len(disagree)} of {len(images)} shared test images get different calls, each side at its own "
               f"threshold ({rule.describe()}): the discordant pairs of the McNemar test above.")
    cols = st.columns(6)
    for i, row in enumerate(disagree.head(MAX_DISAGREEMENTS).itertuples()):
        with cols[i % 6]:
            thumb = thumbnail(row.path_a)
            if isinstance(thumb, str):
                st.caption(thumb)
            else:
                st.image(thumb, width="stretch")
            truth = "glaucoma" if row.label == 1 else "normal"
            st.caption(f"truth **{truth}** · A {row.probability_a:.2f} · B {row.probability_b:.2f}")
