"""Altair charts of a study: data in (a study report), chart out. Pure, testable, no Streamlit."""

from __future__ import annotations

import math

import altair as alt
import pandas as pd


def _trial_frame(report: dict) -> pd.DataFrame:
    metric = report["rule"]["metric"]
    rows = []
    for trial in report["trials"]:
        row = {"trial": trial["id"], "status": trial["status"],
               "valid": trial["valid"][metric]["mean"], "test": trial["test"][metric]["mean"]}
        row.update({f"param:{k}": v for k, v in trial["params"].items()})
        rows.append(row)
    return pd.DataFrame(rows)


def parallel_coordinates(report: dict) -> alt.Chart:
    """One line per trial across its parameters (each scaled to 0-1 over the trials; lists by
    their order) and the validation score, coloured by that score; the selected trial thicker."""
    metric = report["rule"]["metric"]
    frame = _trial_frame(report)
    if frame.empty:
        return alt.Chart(pd.DataFrame({"axis": [], "scaled": []})).mark_line()
    axes = [c for c in frame.columns if c.startswith("param:")] + ["valid"]
    long = []
    for column in axes:
        values = frame[column]
        numeric = pd.to_numeric(values, errors="coerce")
        if numeric.notna().all() and not values.map(lambda v: isinstance(v, bool)).any():
            if column == "param:learning_rate" and (numeric > 0).all():
                numeric = numeric.map(math.log10)
            low, high = numeric.min(), numeric.max()
            scaled = (numeric - low) / (high - low) if high > low else numeric * 0 + 0.5
        else:
            order = {v: i for i, v in enumerate(sorted(values.astype(str).unique()))}
            scaled = values.astype(str).map(order) / max(len(order) - 1, 1)
        for trial, status, value, raw, score in zip(frame["trial"], frame["status"], scaled, values,
                                                    frame["valid"], strict=True):
            long.append({"trial": int(trial), "status": status, "axis": column.removeprefix("param:"),
                         "scaled": None if pd.isna(value) else float(value), "value": str(raw),
                         "score": None if pd.isna(score) else float(score),
                         "selected": int(trial) == report.get("selected")})
    data = pd.DataFrame(long)
    order = [a.removeprefix("param:") for a in axes]
    return (
        alt.Chart(data)
        .mark_line(point=True)
        .encode(
            x=alt.X("axis:N", sort=order, title=None),
            y=alt.Y("scaled:Q", title="scaled value", scale=alt.Scale(domain=[0, 1])),
            color=alt.Color("score:Q", title=f"valid {metric}", scale=alt.Scale(scheme="viridis")),
            detail="trial:N",
            strokeWidth=alt.condition("datum.selected", alt.value(4), alt.value(1.5)),
            tooltip=["trial:N", "status:N", "axis:N", "value:N", alt.Tooltip("score:Q", format=".3f")],
        )
        .properties(title="Trials across parameters (validation score)", height=320)
    )


def importance_chart(report: dict) -> alt.Chart:
    """Bars of Optuna's parameter importance (empty when not computed)."""
    values = (report.get("importance") or {}).get("values") or {}
    data = pd.DataFrame({"parameter": list(values), "importance": list(values.values())})
    return (
        alt.Chart(data)
        .mark_bar()
        .encode(x=alt.X("importance:Q", scale=alt.Scale(domain=[0, 1])), y=alt.Y("parameter:N", sort="-x"),
                tooltip=["parameter:N", alt.Tooltip("importance:Q", format=".2f")])
        .properties(title="Parameter importance (fANOVA)")
    )


def leaderboard_chart(report: dict) -> alt.Chart:
    """Each trial's mean validation score with its 95 % interval, best first; the selected
    trial and the ones not distinguishable from it marked."""
    metric = report["rule"]["metric"]
    rows = []
    for trial in report["trials"]:
        s = trial["valid"][metric]
        if s["mean"] is None:
            continue
        if trial["id"] == report.get("selected"):
            mark = "selected"
        elif trial["status"] != "complete":
            mark = trial["status"]
        else:
            mark = "indistinguishable" if trial.get("indistinguishable") else "worse"
        rows.append({"trial": f"trial {trial['id']}", "mean": s["mean"], "low": s["ci95"][0] if s["ci95"][0]
                     is not None else s["mean"], "high": s["ci95"][1] if s["ci95"][1] is not None else s["mean"],
                     "mark": mark})
    data = pd.DataFrame(rows, columns=["trial", "mean", "low", "high", "mark"])
    base = alt.Chart(data).encode(y=alt.Y("trial:N", sort=alt.EncodingSortField("mean", order="descending"),
                                          title=None))
    bars = base.mark_rule().encode(x=alt.X("low:Q", title=f"validation {metric} (mean, 95 % interval)",
                                           scale=alt.Scale(zero=False)), x2="high:Q")
    marks = ["selected", "indistinguishable", "worse", "pruned", "screened", "running", "failed"]
    colors = ["#d62728", "#1f77b4", "#7f7f7f", "#bcbd22", "#9467bd", "#17becf", "#000000"]
    points = base.mark_point(filled=True, size=70).encode(x="mean:Q", color=alt.Color(
        "mark:N", title=None, scale=alt.Scale(domain=marks, range=colors)),
                                                          tooltip=["trial:N", alt.Tooltip("mean:Q", format=".3f"),
                                                                   "mark:N"])
    return (bars + points).properties(title="Leaderboard (validation)")
