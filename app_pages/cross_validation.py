"""Cross-validation view: launch a configuration over folds, follow it, read its results."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app_pages._components import bench as workbench
from app_pages._components import form_memory, pickers, scope
from app_pages._components.baseline_view import baseline_section
from app_pages._components.config_form import preset_and_form
from app_pages._components.live import ACTIVE, POLL_SECONDS, format_seconds, progress_numbers, shown_status
from app_pages._components.loaders import dataset_index
from app_pages._components.sidebar import get_context
from glaucoma_core import charts
from glaucoma_core.data.index import fold_numbers
from glaucoma_core.errors import UserError
from glaucoma_core.evaluation.metrics import METRIC_LABELS
from glaucoma_core.workbench import experiment_ref
from glaucoma_core.workbench.datasets import planned_epochs, smallest_training_set

TABLE_COLUMNS = ["fold", "run_id", "n", "threshold", "accuracy", "auc", "sensitivity", "specificity", "f1", "fn",
                 "fn_rate"]

ctx = get_context()
st.title("Cross-validation")
bench = workbench.viewer(ctx.home)
store = bench.store
index = dataset_index(ctx.data_root, ctx.home)
folds = fold_numbers(index)

# ---- launch ---------------------------------------------------------------------------
with st.expander("Launch a cross-validation", expanded=scope.experiments(store, ctx).empty):
    if not folds:
        st.warning("This dataset has no fold folders; cross-validation needs the fold layout "
                   "(`python -m glaucoma_core folds SOURCE OUT`).")
    else:
        chosen = st.multiselect("Folds", folds, default=folds, key="cv_folds")
        smallest = smallest_training_set(index, chosen) or 0
        config, problem = preset_and_form("cv_cfg", smallest, base=form_memory.restore("cv_cfg"))
        form_memory.remember("cv_cfg", config)
        c1, c2, c3 = st.columns([2, 1, 2])
        name = c1.text_input("Experiment name", key="cv_name", placeholder="e.g. small-cnn-baseline")
        executor = c2.radio("Executor", ["local", "ray"], key="cv_executor", horizontal=True,
                            help="local: folds one after another in one background process; ray: folds as Ray tasks.")
        address = c3.text_input("Ray address", key="cv_address", disabled=executor != "ray",
                                placeholder="empty = a local Ray")
        if st.button("Start cross-validation", type="primary", key="cv_start",
                     disabled=config is None or not chosen, icon=":material/play_arrow:"):
            try:
                exp_id = workbench.actor(ctx.home).start_cross_validation(
                    config, ctx.data_root, folds=chosen, name=name or None, executor=executor,
                    address=(address or None) if executor == "ray" else None)
            except (UserError, OSError) as exc:  # refused before any process starts
                st.error(f"Could not start: {exc}")
            else:
                st.session_state["cv_experiment"] = exp_id  # follow the new experiment
                st.toast(f"Experiment {exp_id} started")

experiments = scope.experiments(store, ctx)
scope.caption(ctx, len(store.experiments()) - len(experiments))
if experiments.empty:
    st.info("No cross-validation yet: launch one above (the cpu-small preset runs 10 folds of the demo data in minutes).")
    st.stop()

# ---- progress -------------------------------------------------------------------------
labels = {int(r["id"]): pickers.experiment_label(r) for _, r in experiments.iterrows()}
default = st.session_state.get("cv_experiment")
options = list(labels)
exp_id = st.selectbox("Experiment", options, index=options.index(default) if default in options else 0,
                      format_func=labels.get, key=pickers.refreshing_key("cv_experiment_select", labels))
st.session_state["cv_experiment"] = exp_id


def shown_runs():
    """The experiment's runs with the status and error the page shows (see live.shown_status)."""
    runs = store.runs(experiment_id=exp_id).sort_values("fold")
    shown = [shown_status(row) for row in runs.to_dict(orient="records")]
    return runs.assign(status=[s for s, _ in shown], error=[e for _, e in shown])


first_runs = shown_runs()
active = bool(first_runs["status"].isin(ACTIVE).any())
finished_at_start = int((first_runs["status"] == "finished").sum())


def live_fold(runs: pd.DataFrame, planned: pd.Series) -> None:
    """The running fold's curve, and the time left for the whole experiment (epochs left in
    every unfinished fold at the mean epoch time measured so far)."""
    running = runs[runs["status"] == "running"]
    epochs_all = store.epochs([int(r) for r in runs["id"]])
    per_epoch = None
    if len(epochs_all) and "epoch_seconds" in epochs_all and epochs_all["epoch_seconds"].notna().any():
        per_epoch = float(epochs_all["epoch_seconds"].mean())
    done = runs["epochs_done"].fillna(0).astype(float)
    left_epochs = float(((planned - done).clip(lower=0))[runs["status"].isin(ACTIVE)].sum())
    c1, c2, c3 = st.columns(3)
    c3.metric("Experiment time remaining", format_seconds(left_epochs * per_epoch) if per_epoch else "–",
              help="Epochs left in the unfinished folds × the mean epoch time so far (early stopping may end sooner).")
    if running.empty:
        c1.caption("Waiting for the next fold to start…")
        return
    run = store.run(int(running["id"].iloc[0]))
    epochs = epochs_all[epochs_all["run_id"] == run["id"]]
    numbers = progress_numbers(run, epochs)
    c1.metric(f"Fold {run['fold']} (run {run['id']})", f"epoch {numbers['done']} of {numbers['planned'] or '?'}")
    c2.metric("Fold time remaining", format_seconds(numbers["remaining"]))
    if len(epochs):
        metric = "auc" if "val_auc" in epochs.columns else "loss"
        st.altair_chart(charts.training_curves(epochs, metric=metric).properties(height=180,
                        title=f"fold {run['fold']}: {metric} per epoch (live)"), width="stretch")


@st.fragment(run_every=POLL_SECONDS if active else None)
def progress():
    runs = shown_runs()
    still_active = bool(runs["status"].isin(ACTIVE).any())
    if still_active != active or int((runs["status"] == "finished").sum()) != finished_at_start:
        st.rerun(scope="app")  # a fold finished: its results, the labels and the report follow at once
    planned = runs["config"].map(planned_epochs)
    table = pd.DataFrame({
        "fold": runs["fold"], "run": runs["id"], "status": runs["status"],
        "progress": (runs["epochs_done"].fillna(0).astype(float) / planned.where(planned > 0, 1)).clip(0, 1),
        "epochs": runs["epochs_done"].fillna(0).astype(int).astype(str) + " / " + planned.astype(str),
        "valid AUC": runs["valid_auc"], "test AUC": runs["test_auc"], "error": runs["error"].fillna(""),
    })
    done = int((runs["status"] == "finished").sum())
    st.markdown(f"**Progress**: {done} of {len(runs)} folds finished")
    st.progress(done / max(len(runs), 1))
    if still_active:
        live_fold(runs, planned)
    st.dataframe(table, hide_index=True, width="stretch", column_config={
        "progress": st.column_config.ProgressColumn("progress", min_value=0, max_value=1),
        "valid AUC": st.column_config.NumberColumn(format="%.3f"),
        "test AUC": st.column_config.NumberColumn(format="%.3f"),
    })
    if still_active and st.button("Cancel this cross-validation", key="cv_cancel", icon=":material/stop:",
                                  help="The running fold stops after its epoch; finished folds are kept."):
        workbench.actor(ctx.home).cancel(experiment_ref(exp_id))
        st.rerun()


progress()

# ---- results --------------------------------------------------------------------------
st.subheader("Results on the test folds")
rule = pickers.pick_threshold_method("cv_threshold", default="fixed")
reference = experiment_ref(exp_id)
try:
    result = workbench.evaluate(bench, reference, rule)
except UserError as exc:
    st.info(f"No results yet: {exc}.")
    st.stop()

table = result["per_fold"]
st.markdown(f"**Per fold** ({rule.describe()}) · the same figures as "
            f"`python -m glaucoma_core evaluate {reference}` with this threshold rule")
st.dataframe(table[[c for c in TABLE_COLUMNS if c in table.columns]], hide_index=True, width="stretch",
             column_config={c: st.column_config.NumberColumn(format="%.3f") for c in
                            ("threshold", "accuracy", "auc", "sensitivity", "specificity", "f1", "fn_rate")})
summary = result["summary"].copy()
summary.insert(0, "name", summary["metric"].map(lambda k: METRIC_LABELS.get(k, k)))
c1, c2 = st.columns([3, 2])
with c1:
    st.markdown("**Mean ± sd over folds, 95 % t-interval**")
    shown_summary = summary.drop(columns=["metric"]).rename(
        columns={"ci_low": "95 % low", "ci_high": "95 % high", "n_folds": "folds"})
    if "note" in shown_summary and not shown_summary["note"].fillna("").astype(str).str.strip().any():
        shown_summary = shown_summary.drop(columns=["note"])
    st.dataframe(shown_summary, hide_index=True, width="stretch",
                 column_config={c: st.column_config.NumberColumn(format="%.3f") for c in ("mean", "sd", "95 % low", "95 % high")})
    capped = summary[(summary["ci_high"] >= 1.0) | (summary["ci_low"] <= 0.0)]
    capped = capped[capped["metric"].isin(["auc", "accuracy", "sensitivity", "specificity", "f1", "balanced_accuracy"])]
    if len(capped):
        st.caption("Interval ends at 0.000 or 1.000 are capped to the metric's range: the t-interval itself "
                   "reaches beyond it (" + ", ".join(METRIC_LABELS.get(m, m) for m in capped["metric"]) +
                   "); with few folds it is wide.")
with c2:
    pooled = result["pooled"]
    st.markdown("**Pooled out-of-fold** (every test image once, by the model that never saw it)")
    m1, m2, m3 = st.columns(3)
    m1.metric("AUC", f"{pooled['auc']:.3f}")
    m2.metric("Sensitivity", f"{pooled['sensitivity']:.3f}")
    m3.metric("Specificity", f"{pooled['specificity']:.3f}")
    m1.metric("Missed (FN)", int(pooled["fn"]), help="glaucoma test images called normal")
    m2.metric("FN rate", f"{pooled['fn_rate']:.1%}")
    m3.metric("Images", int(pooled["n"]))

predictions = bench.predictions(reference)
test = predictions[predictions["split"] == "test"]
g1, g2 = st.columns(2)
try:
    g1.altair_chart(charts.roc_chart(test, group="fold"), width="stretch")
except ValueError as exc:
    g1.info(f"No ROC curve: {exc}")
g2.altair_chart(charts.fold_metric_strip(table, summary=result["summary"]), width="stretch")
try:
    g1.altair_chart(charts.precision_recall_chart(test, group="fold"), width="stretch")
except ValueError as exc:
    g1.info(f"No precision-recall curve: {exc}")

d1, d2, d3 = st.columns(3)
d1.download_button("Per-fold metrics (CSV)", table.to_csv(index=False), file_name=f"experiment_{exp_id}_folds.csv",
                   mime="text/csv", icon=":material/download:")
d2.download_button("Predictions (CSV)", predictions.to_csv(index=False),
                   file_name=f"experiment_{exp_id}_predictions.csv", mime="text/csv", icon=":material/download:")
if d3.button("Build the HTML report", key="cv_report", icon=":material/description:",
             help="One self-contained file (figures embedded, opens offline): dataset, folds, configuration, "
                  "per-fold table, intervals, ROC, confusion matrix, missed glaucoma, a methods paragraph."):
    with st.spinner("Writing the report…"):
        try:
            st.session_state["cv_report_html"] = (exp_id, rule.to_dict(), bench.report(reference, rule))
        except UserError as exc:
            st.error(f"No report: {exc}")
built = st.session_state.get("cv_report_html")
if built and built[0] == exp_id and built[1] == rule.to_dict():
    d3.download_button("Download the report (HTML)", built[2], file_name=f"experiment_{exp_id}_report.html",
                       mime="text/html", icon=":material/download:", key="cv_report_download")

with st.expander("Metadata baseline: does the model beat image size and colour alone?"):
    baseline_section(bench, exp_id, key="cv_baseline")

# ---- several experiments ----------------------------------------------------------------
st.subheader("Experiments side by side")
others = experiments[(experiments["finished"] > 0) & (experiments["id"] != exp_id)]
if others.empty:
    st.caption("Run another cross-validation over the same folds to compare them fold by fold here.")
    st.stop()
other_labels = {int(r["id"]): pickers.experiment_label(r) for _, r in others.iterrows()}
chosen_others = st.multiselect("Compare with", list(other_labels), default=list(other_labels)[:1],
                               format_func=other_labels.get, key="cv_compare_with")
metric = st.selectbox("Metric by fold", ["auc", "accuracy", "sensitivity", "specificity", "f1"], key="cv_compare_metric",
                      format_func=lambda k: METRIC_LABELS.get(k, k))
by_fold = table[["fold", metric]].rename(columns={metric: f"exp {exp_id}"})
tests = []
for other in chosen_others:
    try:
        other_result = workbench.evaluate(bench, experiment_ref(other), rule)
    except UserError as exc:
        st.warning(f"Experiment {other}: {exc}")
        continue
    by_fold = by_fold.merge(other_result["per_fold"][["fold", metric]].rename(columns={metric: f"exp {other}"}),
                            on="fold", how="outer")
    try:
        comparison = workbench.compare(bench, reference, experiment_ref(other), rule)
    except UserError as exc:
        st.warning(f"Experiment {exp_id} vs {other}: {exc}")
        continue
    ft = comparison["fold_tests"][metric]
    tests.append({
        "comparison": f"exp {exp_id} − exp {other}", "folds": len(comparison["folds"]),
        "mean difference": ft["mean_difference"],
        "Nadeau–Bengio p": ft["nadeau_bengio"].get("p_value"), "Wilcoxon p": ft["wilcoxon"].get("p_value"),
        "DeLong p (pooled AUC)": comparison["delong"].get("p_value"),
        "McNemar p (pooled)": comparison["mcnemar"].get("p_value"),
    })
st.dataframe(by_fold, hide_index=True, width="stretch",
             column_config={c: st.column_config.NumberColumn(format="%.3f") for c in by_fold.columns if c != "fold"})
if tests:
    st.markdown(f"**Paired tests** on {METRIC_LABELS.get(metric, metric)} by fold, and on the pooled test images")
    st.dataframe(pd.DataFrame(tests), hide_index=True, width="stretch",
                 column_config={c: st.column_config.NumberColumn(format="%.4f") for c in
                                ("mean difference", "Nadeau–Bengio p", "Wilcoxon p", "DeLong p (pooled AUC)",
                                 "McNemar p (pooled)")})
