"""Altair charts of a study: data in (a study report), chart out. Pure, testable, no Streamlit."""

from __future__ import annotations

import math

import altair as alt
import pandas as pd

from glaucoma_core.studies.selection import METRIC_LABELS


def _label(metric: str) -> str:
    return METRIC_LABELS.get(metric, metric)


def _short(value) -> str:
    if isinstance(value, float):
        return f"{value:.1e}" if value != 0 and abs(value) < 1e-2 else f"{value:.3g}"
    return str(value)


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
    """One line per trial across its parameters (each scaled to 0-1 over the trials, learning
    rates on a log scale, lists by their order) and the validation score, coloured by that
    score; the selected trial thicker. Each axis is labelled with its name and what 0 and 1
    stand for (the lowest and highest value the trials took)."""
    metric = report["rule"]["metric"]
    frame = _trial_frame(report)
    if frame.empty:
        return alt.Chart(pd.DataFrame({"axis": [], "scaled": []})).mark_line()
    axes = [c for c in frame.columns if c.startswith("param:")] + ["valid"]
    long, names = [], {}
    for column in axes:
        values = frame[column]
        numeric = pd.to_numeric(values, errors="coerce")
        name = f"valid {_label(metric)}" if column == "valid" else column.removeprefix("param:")
        if numeric.notna().all() and not values.map(lambda v: isinstance(v, bool)).any():
            log = column == "param:learning_rate" and (numeric > 0).all()
            low, high = numeric.min(), numeric.max()
            if log:
                numeric = numeric.map(math.log10)
            span = numeric.max() - numeric.min()
            scaled = (numeric - numeric.min()) / span if span > 0 else numeric * 0 + 0.5
            digits = ".3f" if column == "valid" else None
            ends = [format(x, digits) if digits else _short(float(x)) for x in (low, high)]
            names[column] = f"{name}|{ends[0]} – {ends[1]}" + (" (log)" if log else "")
        else:
            order = {v: i for i, v in enumerate(sorted(values.astype(str).unique()))}
            scaled = values.astype(str).map(order) / max(len(order) - 1, 1)
            names[column] = f"{name}|{' · '.join(order)}"
        for trial, status, value, raw, score in zip(frame["trial"], frame["status"], scaled, values,
                                                    frame["valid"], strict=True):
            long.append({"trial": int(trial), "status": status, "axis": names[column],
                         "scaled": None if pd.isna(value) else float(value), "value": _short(raw),
                         "score": None if pd.isna(score) else float(score),
                         "selected": int(trial) == report.get("selected")})
    data = pd.DataFrame(long)
    order = [names[a] for a in axes]
    return (
        alt.Chart(data)
        .mark_line(point=True)
        .encode(
            x=alt.X("axis:N", sort=order, title=None,
                    axis=alt.Axis(labelAngle=0, labelExpr="split(datum.label, '|')", labelLimit=180,
                                  labelOverlap=False)),
            y=alt.Y("scaled:Q", title="lowest → highest value tried", scale=alt.Scale(domain=[0, 1]),
                    axis=alt.Axis(values=[0, 0.5, 1], format=".1f")),
            color=alt.Color("score:Q", title=f"valid {_label(metric)}", scale=alt.Scale(scheme="viridis")),
            detail="trial:N",
            strokeWidth=alt.condition("datum.selected", alt.value(4), alt.value(1.5)),
            tooltip=["trial:N", "status:N", alt.Tooltip("axis:N", title="axis"), "value:N",
                     alt.Tooltip("score:Q", format=".3f", title=f"valid {_label(metric)}")],
        )
        .properties(title="Trials across parameters (thick: the selected trial)", height=320)
    )


def importance_chart(report: dict) -> alt.Chart:
    """Bars of Optuna's parameter importance (empty when not computed)."""
    values = (report.get("importance") or {}).get("values") or {}
    data = pd.DataFrame({"parameter": list(values), "importance": list(values.values())})
    return (
        alt.Chart(data)
        .mark_bar()
        .encode(x=alt.X("importance:Q", scale=alt.Scale(domain=[0, 1]),
                        title="share of the validation score's variance it explains",
                        axis=alt.Axis(format=".0%", values=[0, 0.25, 0.5, 0.75, 1])),
                y=alt.Y("parameter:N", sort="-x", title=None),
                tooltip=["parameter:N", alt.Tooltip("importance:Q", format=".0%")])
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
            mark = "cannot tell apart" if trial.get("indistinguishable") else "worse"
        rows.append({"trial": f"trial {trial['id']}", "mean": s["mean"], "low": s["ci95"][0] if s["ci95"][0]
                     is not None else s["mean"], "high": s["ci95"][1] if s["ci95"][1] is not None else s["mean"],
                     "mark": mark})
    data = pd.DataFrame(rows, columns=["trial", "mean", "low", "high", "mark"])
    base = alt.Chart(data).encode(y=alt.Y("trial:N", sort=alt.EncodingSortField("mean", order="descending"),
                                          title=None))
    bars = base.mark_rule().encode(x=alt.X("low:Q", title=f"validation {_label(metric)} (mean, 95 % interval)",
                                           scale=alt.Scale(zero=False)), x2="high:Q")
    palette = {"selected": "#d62728", "cannot tell apart": "#1f77b4", "worse": "#7f7f7f", "pruned": "#bcbd22",
               "screened": "#9467bd", "running": "#17becf", "failed": "#000000"}
    present = set(data["mark"])  # the legend lists the marks this study has, in a fixed colour each
    marks = [m for m in palette if m in present] or list(palette)
    colors = [palette[m] for m in marks]
    points = base.mark_point(filled=True, size=70).encode(x="mean:Q", color=alt.Color(
        "mark:N", title=None, scale=alt.Scale(domain=marks, range=colors)),
                                                          tooltip=["trial:N", alt.Tooltip("mean:Q", format=".3f"),
                                                                   "mark:N"])
    return (bars + points).properties(title="Leaderboard (validation)")
