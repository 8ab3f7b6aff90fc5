"""The Studies page's leaderboard as a table a person reads: figures as text, never 'None'.

Pure pandas (no Streamlit), so it is tested on its own. A cell that has no figure says why in
the caption the page shows beside it: '—' where one fold gives no spread or interval, where a
p-value is not computable (fewer than two folds in common) or where the trial is the one
selected (it is not compared with itself).
"""

from __future__ import annotations

import math

import pandas as pd

from glaucoma_core.studies.selection import METRIC_LABELS

DASH = "—"


def fmt(value, digits: int = 3) -> str:
    """A figure with ``digits`` decimals, or '—' when there is none."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return DASH
    return f"{float(value):.{digits}f}"


def fmt_param(name: str, value) -> str:
    """A parameter value as a researcher writes it (rates in scientific notation)."""
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, float):
        if name == "learning_rate" or (value != 0 and abs(value) < 1e-2):
            return f"{value:.2e}"
        return f"{value:.3g}"
    return str(value)


def mean_sd(summary: dict) -> str:
    """'0.948 ± 0.018 (0.90–0.99)': mean ± sd over folds and the 95 % interval; '0.781' alone
    over one fold (no spread, no interval)."""
    if not summary or summary.get("mean") is None:
        return DASH
    text = fmt(summary["mean"])
    if summary.get("std") is not None:
        text += f" ± {fmt(summary['std'])}"
    ci = summary.get("ci95") or [None, None]
    if ci[0] is not None and ci[1] is not None:
        text += f" ({fmt(ci[0], 2)}–{fmt(ci[1], 2)})"
    return text


def p_cell(trial: dict, selected, test: str) -> str:
    if trial["id"] == selected:
        return "selected"
    p = (trial.get("p_vs_leader") or {}).get(test)
    if p is None:
        return DASH
    return "< 0.001" if p < 0.001 else fmt(p)


def verdict(trial: dict, selected) -> str:
    if trial["id"] == selected:
        return "selected"
    if trial.get("indistinguishable") is None:
        return DASH
    return "cannot tell apart" if trial["indistinguishable"] else "worse"


def leaderboard_table(report: dict) -> pd.DataFrame:
    """One row per trial in the report's order (the selected trial, then those with every fold,
    then the rest): trial, status, folds, parameters, validation and test 'mean ± sd (95 %
    interval)', the Holm-adjusted p-values against the selected trial, a verdict, the experiment."""
    metric, selected = report["rule"]["metric"], report["selected"]
    label = METRIC_LABELS.get(metric, metric)
    rows = []
    for t in report["trials"]:
        v, s = t["valid"][metric], t["test"][metric]
        rows.append({
            "trial": int(t["id"]), "status": t["status"], "folds": len(t["folds_trained"]),
            **{name: fmt_param(name, value) for name, value in t["params"].items()},
            f"valid {label}": mean_sd(v), f"test {label}": mean_sd(s),
            "p t-test (NB)": p_cell(t, selected, "nadeau_bengio"),
            "p Wilcoxon": p_cell(t, selected, "wilcoxon"),
            "p DeLong": p_cell(t, selected, "delong"),
            "vs selected": verdict(t, selected),
            "experiment": t["experiment"] or DASH,
        })
    return pd.DataFrame(rows)


def nested_table(report: dict) -> pd.DataFrame:
    """The nested cross-validation's outer folds: the trial chosen on that fold's validation
    images alone, its validation and test score there."""
    label = METRIC_LABELS.get(report["rule"]["metric"], report["rule"]["metric"])
    return pd.DataFrame([{"outer fold": int(row["fold"]), "trial chosen (validation)": int(row["chosen_trial"]),
                          f"valid {label}": fmt(row["valid"]), f"test {label}": fmt(row["test"])}
                         for row in report["nested"]["per_fold"]])
