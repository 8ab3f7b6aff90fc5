"""Train view: a configuration form over TrainConfig, Start, live curves, the list of runs."""

from __future__ import annotations

import streamlit as st
from streamlit.errors import StreamlitPageNotFoundError

from app_pages._components import bench as workbench
from app_pages._components import form_memory, live, scope
from app_pages._components.config_form import preset_and_form
from app_pages._components.downloads import run_downloads
from app_pages._components.loaders import dataset_index
from app_pages._components.pickers import refreshing_key, run_label
from app_pages._components.sidebar import get_context
from glaucoma_core.data.index import fold_numbers
from glaucoma_core.errors import UserError
from glaucoma_core.workbench import run_ref
from glaucoma_core.workbench.datasets import training_rows

ctx = get_context()
st.title("Train")
store = workbench.viewer(ctx.home).store

index = dataset_index(ctx.data_root, ctx.home)
folds = fold_numbers(index)

# ---- new run --------------------------------------------------------------------------
with st.container(border=True):
    st.subheader("New training run")
    if folds:
        fold = st.selectbox("Fold", folds, key="train_fold", help="Train on this fold's train split, "
                            "select the best epoch on its valid split, report its test split.")
        n_train = len(training_rows(index, fold))
    else:
        fold, n_train = None, 0
        st.warning("This dataset has no fold folders (train/valid/test). Make folds first: "
                   "`python -m glaucoma_core folds SOURCE OUT`, then choose OUT in the sidebar.")
    config, problem = preset_and_form("train_cfg", n_train, base=form_memory.restore("train_cfg"))
    form_memory.remember("train_cfg", config)
    if config is not None and fold is not None:
        st.caption(f"Configuration valid · {n_train} training images in fold {fold}.")
    start = st.button("Start training", type="primary", disabled=config is None or fold is None,
                      key="train_start", icon=":material/play_arrow:")
    if start and config is not None and fold is not None:
        try:
            run_id = workbench.actor(ctx.home).start_training(config, ctx.data_root, fold)
        except (UserError, OSError) as exc:  # refused before a process starts: show why
            st.error(f"Could not start: {exc}")
        else:
            st.session_state["train_watch"] = run_id  # follow the new run
            st.toast(f"Run {run_id} started")

# ---- live view ------------------------------------------------------------------------
runs = scope.runs(store, ctx)
st.subheader("Live")
scope.caption(ctx, len(store.runs()) - len(runs))
if runs.empty:
    st.info("No runs yet: pick a preset above and press Start training.")
else:
    active = runs[runs["status"].isin(live.ACTIVE)]
    default = st.session_state.get("train_watch")
    if default not in set(runs["id"]):
        default = int(active["id"].iloc[0]) if len(active) else int(runs["id"].iloc[0])
    labels = {int(r["id"]): run_label(r) for _, r in runs.iterrows()}
    options = list(labels)
    # The key changes with the labels: a run that finishes is relabelled at once (a kept key
    # would keep the browser's old label, "running", after the run ended).
    watch = st.selectbox("Watch run", options, index=options.index(default), format_func=labels.get,
                         key=refreshing_key("train_watch_select", labels))
    st.session_state["train_watch"] = watch
    live.render_run(store, int(watch), on_cancel=lambda _store, run_id: workbench.actor(ctx.home).cancel(run_ref(run_id)))
    if store.run(int(watch))["status"] == "finished":
        run_downloads(store, int(watch), key="train_dl")

# ---- runs -----------------------------------------------------------------------------
st.subheader("Runs")


@st.fragment(run_every=live.POLL_SECONDS if len(runs) and runs["status"].isin(live.ACTIVE).any() else None)
def runs_table():
    table = live.runs_overview(scope.runs(store, ctx))
    if table.empty:
        st.caption("The runs you start appear here, with their status.")
        return
    st.dataframe(table, hide_index=True, width="stretch", column_config=live.RUNS_OVERVIEW_COLUMNS)
    try:
        st.page_link("app_pages/runs.py", label="Rename, tag, annotate, archive or delete runs on the Runs page",
                     icon=":material/table_rows:")
    except StreamlitPageNotFoundError:  # the page run on its own, outside the app's navigation
        st.caption("Rename, tag, annotate, archive or delete runs on the Runs page.")


runs_table()
