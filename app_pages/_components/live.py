"""Live view of a training run: status, progress, timing and curves, polled from the run store.

The training process writes epochs to the store; this view only reads, inside an
``st.fragment(run_every=...)`` so that only this part of the page reruns while a job trains.
Reloading the page, or restarting the server, loses nothing: the run is found in the store.
"""

from __future__ import annotations

import time

import pandas as pd
import streamlit as st

from glaucoma_core.workbench.datasets import planned_epochs

ACTIVE = ("queued", "running")
POLL_SECONDS = 2.0
CURVE_METRICS = ("loss", "auc", "sensitivity", "specificity", "f1", "lr")

STATUS_ICON = {
    "queued": ":material/schedule:",
    "running": ":material/sync:",
    "finished": ":material/check_circle:",
    "failed": ":material/error:",
    "cancelled": ":material/cancel:",
}


def shown_status(run) -> tuple[str, str | None]:
    """(status, error) of a run as the page shows it: a queued or running run whose process is
    gone reads as failed with the reason, although only a writer (the CLI, the next job) records
    that in the store; the page itself never writes."""
    alive = run.get("alive")
    if run.get("status") in ACTIVE and alive is not None and not pd.isna(alive) and not bool(alive):
        return "failed", f"{run.get('stale_reason') or 'its process is gone'} (not yet recorded)"
    error = run.get("error")
    return str(run.get("status")), None if error is None or pd.isna(error) else str(error)


def format_seconds(seconds: float | None) -> str:
    """'1 h 02 min', '3 min 05 s', '42 s' or '–'."""
    if seconds is None or pd.isna(seconds) or seconds < 0:
        return "–"
    seconds = int(round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"
    if seconds >= 60:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds} s"


def progress_numbers(run: dict, epochs: pd.DataFrame, now: float | None = None) -> dict:
    """Epoch x of N, elapsed and remaining seconds, images per second of one run.

    run: the store's run dict; epochs: its rows of ``RunStore.epochs``.
    """
    now = time.time() if now is None else now
    planned = planned_epochs(run.get("config") or {})
    done = int(epochs["epoch"].max()) if len(epochs) else 0
    started = run.get("started_at")
    ended = run.get("finished_at")
    elapsed = None
    if started:
        elapsed = (ended or now) - started
    remaining = None
    if run.get("status") == "running" and done and planned:
        per_epoch = (
            float(epochs["epoch_seconds"].mean()) if "epoch_seconds" in epochs and epochs["epoch_seconds"].notna().any()
            else (elapsed or 0) / done
        )
        remaining = max(planned - done, 0) * per_epoch
    speed = None
    if "images_per_second" in epochs and len(epochs) and epochs["images_per_second"].notna().any():
        speed = float(epochs["images_per_second"].dropna().iloc[-1])
    return {"done": done, "planned": planned, "elapsed": elapsed, "remaining": remaining, "speed": speed}


RUNS_OVERVIEW_COLUMNS = {
    "valid AUC": st.column_config.NumberColumn(format="%.3f"),
    "test AUC": st.column_config.NumberColumn(format="%.3f"),
}


def runs_overview(runs: pd.DataFrame) -> pd.DataFrame:
    """The runs as the Train page lists them: the shown status (see :func:`shown_status`),
    epochs done of planned, and words (never 'None') in empty cells."""
    if runs.empty:
        return pd.DataFrame()
    rows = []
    for run in runs.to_dict(orient="records"):
        status, error = shown_status(run)
        planned = planned_epochs(run.get("config") or {})
        done = run.get("epochs_done")
        done = 0 if done is None or pd.isna(done) else int(done)
        experiment = run.get("experiment_name")
        fold = run.get("fold")
        rows.append({
            "run": int(run["id"]),
            "experiment": experiment if isinstance(experiment, str) and experiment else "– (lone run)",
            "fold": "–" if fold is None or pd.isna(fold) else str(int(fold)),
            "backbone": run.get("backbone") or "–",
            "status": status,
            "epochs": f"{done} of {planned or '?'}",
            "valid AUC": run.get("valid_auc"),
            "test AUC": run.get("test_auc"),
            "started": (time.strftime("%Y-%m-%d %H:%M", time.localtime(run["created_at"]))
                        if run.get("created_at") else "–"),
            "error": error or "",
        })
    return pd.DataFrame(rows)


def render_run(store, run_id: int, *, on_cancel) -> None:
    """Draw one run's live panel; polls while the run is queued or running.

    on_cancel: callable(store, run_id) asking the training process to stop after this epoch.
    """
    initial = shown_status(store.run(run_id))[0]
    every = POLL_SECONDS if initial in ACTIVE else None

    @st.fragment(run_every=every)
    def panel():
        from glaucoma_core import charts

        run = store.run(run_id)
        epochs = store.epochs([run_id])
        status, error = shown_status(run)
        if status != initial:  # the job moved on: refresh the whole page (runs list, downloads)
            st.rerun(scope="app")
        numbers = progress_numbers(run, epochs)
        head = st.columns([2, 1, 1, 1, 1])
        head[0].markdown(f"#### {STATUS_ICON.get(status, '')} Run {run_id}: {status}")
        head[1].metric("Epoch", f"{numbers['done']} of {numbers['planned'] or '?'}")
        head[2].metric("Elapsed", format_seconds(numbers["elapsed"]))
        head[3].metric("Remaining", format_seconds(numbers["remaining"]) if status == "running" else "–")
        head[4].metric("Images / s", f"{numbers['speed']:.0f}" if numbers["speed"] else "–")
        if numbers["planned"]:
            st.progress(min(numbers["done"] / numbers["planned"], 1.0))
        if status in ACTIVE:
            if run.get("cancel_requested"):
                st.info("Cancel requested: the run stops after the current epoch and keeps its best model.")
            elif st.button("Cancel this run", key=f"cancel_{run_id}", icon=":material/stop:"):
                on_cancel(store, run_id)
                st.rerun()
        if status == "failed" and error:
            st.error(f"Failed: {error}")
        if epochs.empty:
            st.info("Waiting for the first epoch…" if status in ACTIVE else "This run recorded no epoch.")
            return
        shown = [m for m in CURVE_METRICS if m in epochs.columns or f"val_{m}" in epochs.columns]
        cols = st.columns(3)
        for i, metric in enumerate(shown):
            with cols[i % 3]:
                st.altair_chart(charts.training_curves(epochs, metric=metric).properties(width="container", height=200),
                                width="stretch")

    panel()
