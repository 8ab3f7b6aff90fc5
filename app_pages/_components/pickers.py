"""Selectors for runs and experiments, labelled so a person can tell them apart."""

from __future__ import annotations

import math

import pandas as pd
import streamlit as st


def run_label(row) -> str:
    """'run 7 · exp cpu-small · fold 3 · small_cnn · valid AUC 0.93 · finished'."""
    parts = [f"run {int(row['id'])}"]
    if isinstance(row.get("experiment_name"), str) and row.get("experiment_name"):
        parts.append(f"exp {row['experiment_name']}")
    if not pd.isna(row.get("fold")):
        parts.append(f"fold {int(row['fold'])}")
    if row.get("backbone"):
        parts.append(str(row["backbone"]))
    auc = row.get("valid_auc")
    if auc is not None and not (isinstance(auc, float) and math.isnan(auc)):
        parts.append(f"valid AUC {auc:.3f}")
    parts.append(str(row.get("status", "")))
    return " · ".join(parts)


def experiment_label(row) -> str:
    """'exp 2 · cpu-small · 10 folds (10 finished)'."""
    folds = row.get("folds") or []
    return (
        f"exp {int(row['id'])} · {row['name']} · {len(folds)} folds "
        f"({int(row.get('finished', 0))} finished)"
    )


def refreshing_key(base: str, labels: dict) -> str:
    """A widget key that changes when the option labels change (a run's status, a count of
    finished folds): the browser keeps showing a keyed selectbox's old labels otherwise."""
    import hashlib

    digest = hashlib.sha1(repr(sorted(labels.items())).encode()).hexdigest()[:10]
    return f"{base}_{digest}"


def best_first(runs: pd.DataFrame) -> pd.DataFrame:
    """Finished runs ordered by validation AUC (missing last), newest first among equals."""
    finished = runs[runs["status"] == "finished"]
    return finished.sort_values(["valid_auc", "id"], ascending=[False, False], na_position="last")


def pick_run(runs: pd.DataFrame, key: str, label: str = "Run", *, finished_only: bool = True) -> int | None:
    """A selectbox of runs (best finished first); returns the chosen run id or None when empty."""
    table = best_first(runs) if finished_only else runs
    if table.empty:
        return None
    labels = {int(r["id"]): run_label(r) for _, r in table.iterrows()}
    return st.selectbox(label, list(labels), format_func=labels.get, key=key)


def pick_runs(runs: pd.DataFrame, key: str, label: str = "Runs") -> list[int]:
    """A multiselect of finished runs (best first).

    Preselected: the best run and the best other run of the same fold (runs of different
    folds share no test images, so they cannot be compared image by image), else the next best.
    """
    table = best_first(runs)
    labels = {int(r["id"]): run_label(r) for _, r in table.iterrows()}
    options = list(labels)
    default = options[:1]
    if len(table) > 1:
        best = table.iloc[0]
        same_fold = table.iloc[1:][table.iloc[1:]["fold"].astype("Int64") == best["fold"]]
        partner = same_fold.iloc[0] if len(same_fold) else table.iloc[1]
        default.append(int(partner["id"]))
    return st.multiselect(label, options, default=default, format_func=labels.get, key=key)


def pick_experiment(experiments: pd.DataFrame, key: str, label: str = "Experiment") -> int | None:
    """A selectbox of experiments with at least one finished run; returns the id or None."""
    table = experiments[experiments["finished"] > 0] if "finished" in experiments else experiments
    if table.empty:
        return None
    labels = {int(r["id"]): experiment_label(r) for _, r in table.iterrows()}
    return st.selectbox(label, list(labels), format_func=labels.get, key=key)


def pick_experiments(experiments: pd.DataFrame, key: str, label: str = "Experiments", default: int = 2) -> list[int]:
    """A multiselect of experiments with finished runs, the newest ``default`` preselected."""
    table = experiments[experiments["finished"] > 0] if "finished" in experiments else experiments
    labels = {int(r["id"]): experiment_label(r) for _, r in table.iterrows()}
    options = list(labels)
    return st.multiselect(label, options, default=options[:default], format_func=labels.get, key=key)


THRESHOLD_METHODS = {
    "youden": "Youden's J on validation",
    "max_f1": "maximum F1 on validation",
    "target_sensitivity": "target sensitivity on validation",
    "target_specificity": "target specificity on validation",
    "fixed": "fixed value",
}


def pick_threshold_method(key: str, default: str = "youden"):
    """The decision threshold rule (a ThresholdRule; chosen on validation by the core)."""
    from glaucoma_core.workbench import ThresholdRule

    methods = list(THRESHOLD_METHODS)
    c1, c2 = st.columns([2, 1])
    method = c1.selectbox(
        "Decision threshold", methods, index=methods.index(default), format_func=THRESHOLD_METHODS.get,
        key=f"{key}_method", help="Chosen on the validation predictions of the model, never on test.",
    )
    target = None
    if method in ("target_sensitivity", "target_specificity"):
        target = c2.number_input("Target", 0.5, 1.0, 0.9, 0.01, key=f"{key}_target")
    elif method == "fixed":
        target = c2.number_input("Threshold", 0.0, 1.0, 0.5, 0.01, key=f"{key}_fixed")
    return ThresholdRule(method, target)
