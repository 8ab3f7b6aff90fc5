"""Studies view: define a study from a ready-made one, launch it in the background, follow its
leaderboard live, read the choice and its estimate, open the winner on the Cross-validation page."""

from __future__ import annotations

import json

import pandas as pd
import streamlit as st

from app_pages._components import bench as workbench
from app_pages._components.live import POLL_SECONDS
from app_pages._components.loaders import dataset_index
from app_pages._components.sidebar import get_context
from glaucoma_core.data.index import fold_numbers
from glaucoma_core.errors import ConfigError, UserError
from glaucoma_core.studies import charts as study_charts
from glaucoma_core.studies.definition import PRUNERS, SAMPLERS
from glaucoma_core.studies.presets import STUDY_PRESETS, study_from_preset
from glaucoma_core.studies.selection import RULE_METRICS

ctx = get_context()
st.title("Studies")
st.caption("Choose a configuration among many: every trial is a cross-validation experiment; the choice is made "
           "on validation images only, and the leaderboard says how many trials cannot be told from the best.")
bench = workbench.viewer(ctx.home)
index = dataset_index(ctx.data_root, ctx.home)
folds = fold_numbers(index)


@st.cache_data(show_spinner="Computing the leaderboard…", max_entries=32)
def _report(home: str, reference: str, signature: tuple) -> dict:
    from glaucoma_core.workbench import Workbench

    return Workbench(home, read_only=True).study_report(reference)


def _signature(reference: str) -> tuple:
    from glaucoma_core.studies.leaderboard import report_signature

    return report_signature(bench, reference)


# ---- define and launch ------------------------------------------------------------------
studies = bench.studies()
with st.expander("Define and launch a study", expanded=not studies):
    if not folds:
        st.warning("This dataset has no fold folders; a study cross-validates each trial and needs the fold layout.")
    else:
        preset = st.selectbox("Ready-made study", list(STUDY_PRESETS), key="study_preset",
                              help="; ".join(f"{k}: {v['description']}" for k, v in STUDY_PRESETS.items()))
        spec = STUDY_PRESETS[preset]
        c1, c2, c3, c4 = st.columns(4)
        n_trials = c1.number_input("Trials", 1, 200, min(6, spec["n_trials"]), key="study_trials")
        sampler = c2.selectbox("Sampler", SAMPLERS, index=SAMPLERS.index(spec["sampler"]), key="study_sampler")
        pruner = c3.selectbox("Pruner", PRUNERS, index=PRUNERS.index(spec["pruner"]), key="study_pruner",
                              help="median: stop a trial after a fold when it is below the median of earlier trials")
        metric = c4.selectbox("Selection metric", list(RULE_METRICS), key="study_metric",
                              format_func=lambda m: RULE_METRICS[m])
        chosen = st.multiselect("Folds", folds, default=folds[:3], key="study_folds")
        c1, c2, c3 = st.columns([1, 1, 2])
        screen = c1.number_input("Screen on first K folds (0: off)", 0, max(len(chosen) - 1, 0), 0,
                                 key="study_screen")
        top = c2.number_input("…then the top", 1, 50, 3, key="study_top", disabled=not screen)
        nested = c3.checkbox("Nested cross-validation estimate", key="study_nested",
                             help="Report the estimate of the whole search-and-select procedure (the choice "
                                  "repeated inside each outer fold) instead of the chosen trial's test figures.")
        weights = st.text_input("Weights (base configuration)", key="study_weights", placeholder="imagenet",
                                help="Offline: the path of the Keras ImageNet file, e.g. "
                                     "…/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_224_no_top.h5")
        space_text = st.text_area("Search space (JSON: lists are grids, ranges have low/high, log for rates)",
                                  json.dumps(spec["space"], indent=1), key=f"study_space_{preset}", height=160)
        name = st.text_input("Study name", key="study_name", placeholder="default: preset and date")
        if st.button("Start study", type="primary", key="study_start", disabled=not chosen,
                     icon=":material/play_arrow:"):
            try:
                space = json.loads(space_text)
                definition = study_from_preset(
                    preset, overrides={"weights": weights.strip()} if weights.strip() else None, space=space,
                    folds=list(chosen), n_trials=int(n_trials), sampler=sampler, pruner=pruner, metric=metric,
                    screen_folds=int(screen) or None, top=int(top), nested=nested, data_root=str(ctx.data_root))
                actor = workbench.actor(ctx.home)
                study_id = actor.create_study(definition, name or None)
                actor.start_study(study_id)
            except json.JSONDecodeError as exc:
                st.error(f"The search space is not valid JSON: {exc}")
            except (UserError, ConfigError, OSError) as exc:
                st.error(f"Could not start: {exc}")
            else:
                st.session_state["study_selected"] = f"study:{study_id}"
                st.toast(f"study:{study_id} started")
                studies = bench.studies()

if not studies:
    st.info("No study yet. Define one above, or from a terminal: `python -m glaucoma_core study run --preset "
            "cpu-transfer-head --folds 1,2,3 --trials 6`.")
    st.stop()

# ---- one study --------------------------------------------------------------------------
labels = {s["study"]: f"{s['study']} · {s['name']} · {s['status']} ({s['trials']}/{s['n_trials']} trials)"
          for s in studies}
refs = list(labels)[::-1]
default = st.session_state.get("study_selected")
reference = st.selectbox("Study", refs, index=refs.index(default) if default in refs else 0,
                         format_func=labels.get, key="study_select")
st.session_state["study_selected"] = reference
running = next(s for s in studies if s["study"] == reference)["status"] == "running"


@st.fragment(run_every=POLL_SECONDS * 2 if running else None)
def study_view(reference: str) -> None:
    try:
        report = _report(str(ctx.home), reference, _signature(reference))
    except UserError as exc:
        st.error(str(exc))
        return
    metric = report["rule"]["metric"]
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Status", report["status"])
    c2.metric("Trials", f"{len(report['trials'])} / {report['n_trials']}")
    c3.metric("Selected trial", "-" if report["selected"] is None else report["selected"])
    c4.metric("Indistinguishable from it", "-" if report["n_indistinguishable"] is None
              else report["n_indistinguishable"])
    st.caption(f"Selection: {report['rule']['text']}.")
    estimate = report["estimate"]
    if report["selected"] is not None:
        shown = "nested cross-validation" if estimate["kind"] == "nested_cv" else "the chosen trial's test figures"
        ci = estimate.get("ci95") or [None, None]
        interval = f" (95 % interval {ci[0]:.3f}–{ci[1]:.3f})" if ci[0] is not None else ""
        st.success(f"Estimate — you are looking at **{shown}**: test {metric} "
                   f"{estimate['mean']:.3f}{interval}. {estimate['text']}.")
        st.caption(report["indistinguishable_text"])
        winner = next(t for t in report["trials"] if t["id"] == report["selected"])
        if st.button(f"Open the winner ({winner['experiment']}) on the Cross-validation page",
                     key="study_open_winner", icon=":material/open_in_new:"):
            st.session_state["cv_experiment"] = int(winner["experiment"].split(":")[1])
            st.session_state["cv_experiment_select"] = st.session_state["cv_experiment"]
            st.switch_page("app_pages/cross_validation.py")
    rows = []
    for t in report["trials"]:
        v, s, p = t["valid"][metric], t["test"][metric], t["p_vs_leader"] or {}
        rows.append({"trial": t["id"], "status": t["status"], **{k: v_ for k, v_ in t["params"].items()},
                     f"valid {metric}": v["mean"], "valid sd": v["std"],
                     "valid 95% low": v["ci95"][0], "valid 95% high": v["ci95"][1],
                     f"test {metric}": s["mean"], "test sd": s["std"],
                     "p NB (Holm)": p.get("nadeau_bengio"), "p Wilcoxon (Holm)": p.get("wilcoxon"),
                     "p DeLong (Holm)": p.get("delong"),
                     "same as best": "leader" if t["id"] == report["selected"] else t["indistinguishable"],
                     "folds": len(t["folds_trained"]), "experiment": t["experiment"]})
    table = pd.DataFrame(rows)  # in the report's order: the selected trial, trials with every fold, the rest
    st.subheader("Leaderboard")
    st.caption("Pruned and screened trials ran fewer folds: their means are not comparable with the others'. "
               "p-values compare each trial with the selected one on the validation images (Holm-corrected).")
    st.dataframe(table, hide_index=True, width="stretch")
    if report["trials"]:
        left, right = st.columns([3, 2])
        left.altair_chart(study_charts.parallel_coordinates(report), width="stretch")
        right.altair_chart(study_charts.leaderboard_chart(report), width="stretch")
        if report["importance"]["values"]:
            st.altair_chart(study_charts.importance_chart(report), width="stretch")
        else:
            st.caption(f"Parameter importance: {report['importance']['note']}.")
    nested = report["nested"]
    if nested["per_fold"]:
        with st.expander("Nested cross-validation: the choice made again inside each outer fold"):
            st.dataframe(pd.DataFrame(nested["per_fold"]), hide_index=True)


study_view(reference)
