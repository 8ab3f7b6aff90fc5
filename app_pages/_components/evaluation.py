"""Evaluation of stored predictions for the pages (the core computes; this fetches and caches).

Results are cached per (store file, run ids, their finish times, threshold rule) so that the
bootstrap intervals are not recomputed on every rerun, and are recomputed when a run changes.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from glaucoma_core.evaluation.evaluate import evaluate_experiment_predictions, evaluate_run_predictions

N_RESAMPLES = 500  # bootstrap resamples for the intervals shown in the app


def run_signature(runs: pd.DataFrame, run_ids: list[int]) -> tuple:
    """What identifies the stored results of ``run_ids``: (id, status, finished_at) each."""
    rows = runs[runs["id"].isin(run_ids)].sort_values("id")
    return tuple((int(r.id), str(r.status), float(r.finished_at or 0)) for r in rows.itertuples())


@st.cache_data(show_spinner="Evaluating…", max_entries=64)
def _evaluate_run(home: str, run_id: int, signature: tuple, method: str, target: float | None) -> dict:
    from glaucoma_core.store.run_store import RunStore

    predictions = RunStore(home).predictions([run_id])
    return evaluate_run_predictions(predictions, method=method, target=target, n_resamples=N_RESAMPLES)


def evaluate_run(store, runs: pd.DataFrame, run_id: int, method: str, target: float | None) -> dict:
    """``evaluate_run_predictions`` of one run (cached); raises ValueError when it cannot be evaluated."""
    return _evaluate_run(str(store.home), int(run_id), run_signature(runs, [run_id]), method, target)


@st.cache_data(show_spinner="Evaluating the cross-validation…", max_entries=32)
def _evaluate_experiment(home: str, run_ids: tuple[int, ...], signature: tuple, method: str,
                         target: float | None) -> dict:
    from glaucoma_core.store.run_store import RunStore

    predictions = RunStore(home).predictions(list(run_ids))
    return evaluate_experiment_predictions(predictions, method=method, target=target, n_resamples=N_RESAMPLES)


def finished_run_ids(store, experiment_id: int) -> list[int]:
    runs = store.runs(experiment_id=experiment_id)
    return sorted(int(r) for r in runs.loc[runs["status"] == "finished", "id"])


def evaluate_experiment(store, runs: pd.DataFrame, experiment_id: int, method: str, target: float | None) -> dict:
    """``evaluate_experiment_predictions`` over the finished folds of an experiment (cached)."""
    ids = finished_run_ids(store, experiment_id)
    if not ids:
        raise ValueError("this experiment has no finished fold yet")
    return _evaluate_experiment(str(store.home), tuple(ids), run_signature(runs, ids), method, target)
