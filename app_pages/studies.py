"""Studies view: define a study from a ready-made one, launch it in the background, follow its
leaderboard live, read the choice and its estimate, open the winner on the Cross-validation page."""

from __future__ import annotations

import json

import streamlit as st

from app_pages._components import bench as workbench
from app_pages._components.live import POLL_SECONDS
from app_pages._components.loaders import dataset_index
from app_pages._components.sidebar import get_context
from app_pages._components.study_table import leaderboard_table, nested_table
from glaucoma_core.data.index import fold_numbers
from glaucoma_core.errors import ConfigError, UserError
from glaucoma_core.studies import charts as study_charts
from glaucoma_core.studies.definition import PRUNERS, SAMPLERS
from glaucoma_core.studies.presets import STUDY_PRESETS, study_from_preset
from glaucoma_core.studies.pruning import DEFAULT_MIN_TRIALS, default_warmup_folds
from glaucoma_core.studies.selection import METRIC_LABELS, RULE_METRICS

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
                              help="median: stop a trial after a fold when its mean validation score so far is "
                                   "below the median of the completed trials over the same folds; none: every "
                                   "trial runs every fold")
        metric = c4.selectbox("Selection metric", list(RULE_METRICS), key="study_metric",
                              format_func=lambda m: METRIC_LABELS[m],
                              help="; ".join(RULE_METRICS.values()) + ". Validation images only.")
        chosen = st.multiselect("Folds", folds, default=folds[:3], key="study_folds")
        c1, c2, c3 = st.columns([1, 1, 2])
        warmup = c1.number_input("Prune only after fold", 1, max(len(chosen), 1),
                                 min(default_warmup_folds(len(chosen) or 1), max(len(chosen), 1)),
                                 key="study_prune_warmup", disabled=pruner == "none",
                                 help="No trial is pruned before it has run this many folds (default: half of "
                                      "them, rounded up); one noisy fold should not decide.")
        min_trials = c2.number_input("…once this many trials completed", 1, 200, DEFAULT_MIN_TRIALS,
                                     key="study_prune_min_trials", disabled=pruner == "none",
                                     help="Nothing is pruned while fewer trials have completed every fold.")
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
        c1, c2 = st.columns([1, 2])
        executor = c1.radio("Train the folds", ["local", "ray"], key="study_executor", horizontal=True,
                            format_func={"local": "on this machine", "ray": "on Ray"}.get,
                            help="On this machine: one fold after another in the study's process. On Ray: the "
                                 "folds of several trials at once as Ray tasks; the workers must see this "
                                 "workbench home (same machine or a shared filesystem).")
        address = c2.text_input("Ray address", key="study_ray_address", disabled=executor != "ray",
                                placeholder="empty: a local Ray instance; else host:6379 or ray://host:10001")
        name = st.text_input("Study name", key="study_name", placeholder="default: preset and date")
        if st.button("Start study", type="primary", key="study_start", disabled=not chosen,
                     icon=":material/play_arrow:"):
            try:
                space = json.loads(space_text)
                definition = study_from_preset(
                    preset, overrides={"weights": weights.strip()} if weights.strip() else None, space=space,
                    folds=list(chosen), n_trials=int(n_trials), sampler=sampler, pruner=pruner, metric=metric,
                    prune_warmup_folds=int(warmup), prune_min_trials=int(min_trials),
                    screen_folds=int(screen) or None, top=int(top), nested=nested, data_root=str(ctx.data_root))
                actor = workbench.actor(ctx.home)
                study_id = actor.create_study(definition, name or None)
                actor.start_study(study_id, executor=executor,
                                  address=(address.strip() or None) if executor == "ray" else None)
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
listed = next(s for s in studies if s["study"] == reference)
running = listed["status"] == "running"
if listed["status"] in ("incomplete", "created"):
    st.info(f"{reference} is {listed['status']}: {listed['trials']} of {listed['n_trials']} trials started and no "
            "process is running it. Resuming keeps every finished fold and trains only the rest, where it last "
            "ran (this machine or Ray).")
    if st.button("Resume this study", key="study_resume", icon=":material/play_arrow:"):
        try:
            workbench.actor(ctx.home).start_study(reference)
        except (UserError, OSError) as exc:
            st.error(f"Could not resume: {exc}")
        else:
            st.toast(f"{reference} resumed")
            st.rerun()


@st.fragment(run_every=POLL_SECONDS * 2 if running else None)
def study_view(reference: str) -> None:
    try:
        report = _report(str(ctx.home), reference, _signature(reference))
    except UserError as exc:
        st.error(str(exc))
        return
    metric = report["rule"]["metric"]
    label = METRIC_LABELS.get(metric, metric)
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Status", report["status"])
    c2.metric("Trials", f"{len(report['trials'])} / {report['n_trials']}")
    c3.metric("Selected trial", "—" if report["selected"] is None else report["selected"])
    c4.metric("Cannot be told apart from it", "—" if report["n_indistinguishable"] is None
              else report["n_indistinguishable"],
              help="Trials whose Holm-adjusted p-value against the selected trial is at least 0.05.")
    st.caption(f"Selection: {report['rule']['text']}.")
    estimate = report["estimate"]
    if report["selected"] is not None:
        shown = "nested cross-validation" if estimate["kind"] == "nested_cv" else "the chosen trial's test figures"
        ci = estimate.get("ci95") or [None, None]
        interval = f" (95 % interval {ci[0]:.3f}–{ci[1]:.3f})" if ci[0] is not None else ""
        text = estimate["text"][:1].upper() + estimate["text"][1:]
        st.success(f"Estimate — you are looking at **{shown}**: test {label} "
                   f"{estimate['mean']:.3f}{interval}. {text}.")
        st.caption(report["indistinguishable_text"])
        winner = next(t for t in report["trials"] if t["id"] == report["selected"])
        if st.button(f"Open the winner ({winner['experiment']}) on the Cross-validation page",
                     key="study_open_winner", icon=":material/open_in_new:"):
            st.session_state["cv_experiment"] = int(winner["experiment"].split(":")[1])
            st.session_state["cv_experiment_select"] = st.session_state["cv_experiment"]
            st.switch_page("app_pages/cross_validation.py")
    table = leaderboard_table(report)  # in the report's order: the selected trial, trials with every fold, the rest
    st.subheader("Leaderboard")
    st.caption("Mean ± sd (95 % interval) over the folds each trial ran; pruned and screened trials ran fewer folds, so their "
               "means are not comparable with the others'. p-values compare each trial with the selected one on "
               "the validation images (Holm-corrected): NB is the Nadeau-Bengio corrected resampled t-test. "
               "— : not defined (one fold gives no sd or interval; a test needs folds in common).")
    st.dataframe(table, hide_index=True, width="stretch")
    if report["trials"]:
        st.altair_chart(study_charts.parallel_coordinates(report), width="stretch")  # full width: one axis
        left, right = st.columns(2)                                                    # per parameter
        left.altair_chart(study_charts.leaderboard_chart(report), width="stretch")
        if report["importance"]["values"]:
            right.altair_chart(study_charts.importance_chart(report), width="stretch")
        else:
            right.caption(f"Parameter importance: {report['importance']['note']}.")
    nested = report["nested"]
    if nested["per_fold"]:
        with st.expander("Nested cross-validation: the choice made again inside each outer fold"):
            st.dataframe(nested_table(report), hide_index=True)


study_view(reference)
