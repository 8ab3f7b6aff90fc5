"""The metadata baseline of an experiment beside its own AUC (the workbench computes it)."""

from __future__ import annotations

import streamlit as st

from glaucoma_core.errors import UserError
from glaucoma_core.workbench import Workbench, experiment_ref


@st.cache_data(show_spinner="Fitting the metadata baseline on the experiment's folds…", max_entries=16)
def _baseline(home: str, reference: str, signature: tuple) -> dict:
    return Workbench(home, read_only=True).metadata_baseline(reference)


def baseline_section(bench: Workbench, experiment_id: int, key: str) -> None:
    """A button computing what image size, file size and global colour alone reach on the
    experiment's own folds, then both AUCs side by side with the warning when the experiment
    does not clearly beat it (cached until one of its runs changes)."""
    reference = experiment_ref(experiment_id)
    st.caption("What image size, file size and global colour alone reach on the experiment's own folds: "
               "a model that does not clearly beat it may have learnt a shortcut.")
    if not st.button("Compute the metadata baseline", key=key):
        return
    try:
        base = _baseline(str(bench.home), reference, bench.results_signature(reference))
    except UserError as exc:
        st.error(str(exc))
        return
    b1, b2 = st.columns(2)
    b1.metric("Metadata baseline AUC", f"{base['auc']:.3f}")
    b2.metric("Experiment AUC", f"{base['experiment_auc']:.3f}", delta=f"{base['margin']:+.3f}")
    if base["warning"]:
        st.warning(base["warning"])
    else:
        st.success("The experiment clearly beats what metadata alone reach.")
    st.dataframe(base["single"][["name", "auc", "flagged"]], hide_index=True, width="stretch")
