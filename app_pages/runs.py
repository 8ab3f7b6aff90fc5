"""Runs view: every experiment and run of the active dataset as a table to work with.

Sortable (click a column head) and filterable, with the dataset, the nearest preset and the
backbone, the settings that differ, the duration and the metrics; pick a row to rename it, tag
it, write notes, archive or delete it (asking first; its model files go too), start a new run
from its settings, or go from an experiment to its runs and back. The workbench computes
(``Workbench.catalog``, ``annotate``, ``archive``, ``delete``); this page arranges.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app_pages._components import bench as workbench
from app_pages._components import form_memory
from app_pages._components.live import format_seconds
from app_pages._components.sidebar import get_context
from app_pages._components.text import md_escape
from glaucoma_core.errors import UserError
from glaucoma_core.workbench import experiment_ref, run_ref

ctx = get_context()
st.title("Runs")
bench = workbench.viewer(ctx.home)

f1, f2, f3 = st.columns([3, 1, 1])
search = f1.text_input("Filter", key="runs_filter", placeholder="name, tag, note, backbone, preset, status…",
                       help="Rows whose name, tags, notes, backbone, preset or status contain this text.")
all_datasets = f2.toggle("All datasets", key="runs_all_datasets",
                         help="Off: only the runs and experiments of the dataset chosen in the sidebar.")
show_archived = f3.toggle("Show archived", key="runs_archived")
catalog = bench.catalog(None if all_datasets else ctx.data_root, archived=show_archived)
st.caption(("Every dataset" if all_datasets else f"Dataset: **{md_escape(ctx.data_label)}**")
           + " · click a column head to sort, a row to work on it.")

flash = st.session_state.pop("runs_flash", None)
if flash:
    st.success(flash)


def _filtered(table: pd.DataFrame) -> pd.DataFrame:
    if table.empty or not search.strip():
        return table
    needle = search.strip().lower()
    text = (table["name"].fillna("").astype(str) + " " + table["tags"].map(" ".join) + " " + table["notes"] + " "
            + table["backbone"].fillna("").astype(str) + " " + table["preset"].fillna("").astype(str) + " "
            + table.get("status", pd.Series("", index=table.index)).fillna("").astype(str))
    return table[text.str.lower().str.contains(needle, regex=False)]


def _shown(table: pd.DataFrame) -> pd.DataFrame:
    """The table as shown: tags as text, durations in words, words for empty cells."""
    shown = table.drop(columns=["data_root"], errors="ignore").copy()
    shown["tags"] = shown["tags"].map(", ".join)
    shown["duration"] = shown["duration_s"].map(format_seconds)
    shown["created_at"] = pd.to_datetime(shown["created_at"], unit="s").dt.strftime("%Y-%m-%d %H:%M")
    shown = shown.drop(columns=["duration_s"]).rename(columns=HEADINGS)
    for column in shown.columns:
        if shown[column].dtype == object:
            shown[column] = shown[column].fillna("–").replace("", "–")
    return shown


HEADINGS = {"experiment_id": "experiment", "experiment_name": "experiment name", "valid_auc": "valid AUC",
            "test_auc": "test AUC", "mean_valid_auc": "mean valid AUC", "mean_test_auc": "mean test AUC",
            "created_at": "created"}
NUMBERS = {c: st.column_config.NumberColumn(format="%.3f") for c in
           ("valid AUC", "test AUC", "mean valid AUC", "mean test AUC")}


def _pick(table: pd.DataFrame, kind: str) -> int | None:
    """The table (one row selectable) and the chosen row's id (also offered as a selectbox)."""
    key = f"runs_pick_{kind}"
    event = st.dataframe(_shown(table), hide_index=True, width="stretch", on_select="rerun",
                         selection_mode="single-row", key=f"runs_table_{kind}", column_config=NUMBERS)
    ids = [int(i) for i in table["id"]]
    rows = event.selection.rows if event and event.selection else []
    if rows and rows[0] < len(ids) and st.session_state.get(f"{key}_from_table") != ids[rows[0]]:
        st.session_state[key] = ids[rows[0]]  # the clicked row drives the picker below
        st.session_state[f"{key}_from_table"] = ids[rows[0]]
    if st.session_state.get(key) not in ids:
        st.session_state.pop(key, None)
    names = {int(r.id): f"{kind} {int(r.id)}" + (f" · {r.name}" if isinstance(r.name, str) and r.name else "")
             for r in table.itertuples()}
    return st.selectbox(f"Work on {kind}", ids, format_func=names.get, key=key, index=None,
                        placeholder=f"choose a {kind} (or click its row)")


def _annotations(reference: str, row: pd.Series, key: str) -> None:
    with st.form(f"{key}_form", border=False):
        c1, c2 = st.columns([1, 1])
        name = c1.text_input("Name", value=row["name"] if isinstance(row["name"], str) else "", key=f"{key}_name")
        tags = c2.text_input("Tags (comma-separated)", value=", ".join(row["tags"]), key=f"{key}_tags")
        notes = st.text_area("Notes", value=row["notes"], key=f"{key}_notes", height=90)
        if st.form_submit_button("Save name, tags and notes", icon=":material/save:"):
            try:
                workbench.actor(ctx.home).annotate(reference, name=name, tags=tags, notes=notes)
            except UserError as exc:
                st.error(str(exc))
            else:
                st.session_state["runs_flash"] = f"{reference}: saved."
                st.rerun()


def _archive_and_delete(reference: str, row: pd.Series, key: str, what: str) -> None:
    c1, c2 = st.columns([1, 2])
    archived = bool(row["archived"])
    if c1.button("Unarchive" if archived else "Archive", key=f"{key}_archive", icon=":material/archive:",
                 help="Hide it from every list (nothing is deleted); 'Show archived' lists it again."):
        workbench.actor(ctx.home).archive(reference, not archived)
        st.session_state["runs_flash"] = f"{reference} {'shown again' if archived else 'archived'}."
        st.rerun()
    with c2.popover("Delete…", icon=":material/delete:"):
        st.markdown(f"Delete **{reference}** {what}: its records, epochs, predictions **and model files**. "
                    "This cannot be undone.")
        sure = st.checkbox("Yes, delete it and its model files", key=f"{key}_sure")
        if st.button("Delete for good", key=f"{key}_delete", type="primary", disabled=not sure):
            try:
                result = workbench.actor(ctx.home).delete(reference)
            except UserError as exc:
                st.error(str(exc))
            else:
                st.session_state["runs_flash"] = (f"Deleted {reference}: {len(result['runs'])} run(s), "
                                                  f"{len(result['files'])} model folder(s).")
                st.rerun()


tab_experiments, tab_runs = st.tabs(["Experiments", "Runs"])

# ---- experiments -----------------------------------------------------------------------
with tab_experiments:
    experiments = _filtered(catalog["experiments"])
    if experiments.empty:
        st.info("No experiment here: launch one on the Cross-validation page (or change the filters).")
    else:
        exp_id = _pick(experiments, "experiment")
        if exp_id is not None:
            row = experiments.set_index("id").loc[exp_id]
            reference = experiment_ref(exp_id)
            with st.container(border=True):
                st.markdown(f"#### Experiment {exp_id}: {md_escape(row['name'])}")
                st.caption(f"{md_escape(row['dataset'])} · {row['preset']} · {row['backbone']} · {row['folds']} folds · "
                           f"{row['finished']} of {row['runs']} runs finished")
                _annotations(reference, row.rename({"name": "name"}), f"runs_exp_{exp_id}")
                runs_of = catalog["runs"][catalog["runs"]["experiment_id"] == exp_id]
                st.markdown("**Its runs**")
                st.dataframe(_shown(runs_of), hide_index=True, width="stretch", column_config=NUMBERS)
                b1, b2, b3 = st.columns(3)
                if b1.button("Open on the Cross-validation page", key="runs_open_cv", icon=":material/view_column:"):
                    st.session_state["cv_experiment"] = exp_id
                    st.switch_page("app_pages/cross_validation.py")
                if b2.button("New cross-validation from these settings", key="runs_new_cv",
                             icon=":material/content_copy:"):
                    form_memory.start_from_run("cv_cfg", bench.experiment(exp_id)["config"])
                    st.switch_page("app_pages/cross_validation.py")
                if len(runs_of) and b3.button("Show its runs in the Runs tab", key="runs_show_runs"):
                    st.session_state["runs_filter"] = ""
                    st.session_state["runs_pick_run"] = int(runs_of["id"].iloc[0])
                    st.rerun()
                _archive_and_delete(reference, row, f"runs_exp_{exp_id}", "with all its runs")

# ---- runs ------------------------------------------------------------------------------
with tab_runs:
    runs = _filtered(catalog["runs"])
    if runs.empty:
        st.info("No run here: start one on the Train page (or change the filters).")
    else:
        run_id = _pick(runs, "run")
        if run_id is not None:
            row = runs.set_index("id").loc[run_id]
            reference = run_ref(run_id)
            with st.container(border=True):
                title = f"#### Run {run_id}" + (f": {md_escape(row['name'])}" if isinstance(row["name"], str) and row["name"] else "")
                st.markdown(title)
                fold = "–" if pd.isna(row["fold"]) else int(row["fold"])
                st.caption(f"{md_escape(row['dataset'])} · fold {fold} · {row['preset']} · {row['backbone']} · "
                           f"{row['status']} · {format_seconds(row['duration_s'])}")
                if not pd.isna(row["experiment_id"]):
                    st.markdown(f"Part of **experiment {int(row['experiment_id'])}** "
                                f"({md_escape(row['experiment_name'])}).")
                    if st.button(f"Open experiment {int(row['experiment_id'])}", key="runs_open_experiment"):
                        st.session_state["runs_pick_experiment"] = int(row["experiment_id"])
                        st.session_state["cv_experiment"] = int(row["experiment_id"])
                        st.switch_page("app_pages/cross_validation.py")
                _annotations(reference, row, f"runs_run_{run_id}")
                if st.button("New run from these settings", key="runs_new_run", icon=":material/content_copy:",
                             help="The Train page's form, filled with this run's configuration."):
                    form_memory.start_from_run("train_cfg", bench.run(run_id)["config"])
                    st.switch_page("app_pages/train.py")
                _archive_and_delete(reference, row, f"runs_run_{run_id}", "")
