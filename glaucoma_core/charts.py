"""Altair chart builders: DataFrame in, chart out. No Streamlit, no state, no I/O.

Each function takes the tidy data the core produces (run store epochs, predictions, per-fold
tables, threshold sweeps, reliability curves) and returns an ``alt.Chart`` or ``alt.LayerChart``
the page shows with ``st.altair_chart``.
"""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

from glaucoma_core.evaluation.cv_summary import summarize_folds
from glaucoma_core.evaluation.metrics import (
    UndefinedMetricError,
    auc,
    average_precision,
    precision_recall_points,
    roc_points,
    tpr_at_fpr,
)
from glaucoma_core.labels import CLASS_NAMES

DEFAULT_WIDTH = 420
DEFAULT_HEIGHT = 300
_CLASS_ORDER = [CLASS_NAMES[0], CLASS_NAMES[1]]  # 'normal', 'glaucoma'


def _require(df: pd.DataFrame, columns, what: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"{what} needs column(s) {', '.join(missing)}")


# --- training curves -----------------------------------------------------------------------


def training_curves(epochs: pd.DataFrame, metric: str = "loss", run_column: str = "run_id",
                    detail_column: str | None = None, color_title: str = "run") -> alt.LayerChart:
    """Train vs validation curve of ``metric`` per epoch, several runs overlaid.

    Args:
        epochs: one row per (run, epoch): columns epoch, ``run_column``, ``metric`` and
            ``'val_' + metric`` (either may be missing/NaN), as ``RunStore.epochs`` returns.
        metric: 'loss', 'accuracy', 'auc', 'sensitivity', ... (without the 'val_' prefix).
        run_column: the column that gives the colour (a run, or an experiment).
        detail_column: a column whose values are separate lines of the same colour (e.g. the
            folds of one experiment); None: one line per ``run_column`` value and set.
        color_title: the colour legend's title.

    The set (train solid, valid dashed) has its own legend drawn as line strokes.
    """
    _require(epochs, ["epoch"], "training_curves")
    columns = [c for c in (metric, f"val_{metric}") if c in epochs.columns]
    if not columns:
        raise ValueError(f"training_curves: no column {metric!r} or 'val_{metric}' in the epochs")
    frame = epochs.copy()
    if run_column not in frame.columns:
        frame[run_column] = "run"
    frame[run_column] = frame[run_column].astype(str)
    ids = ["epoch", run_column] + ([detail_column] if detail_column and detail_column != run_column else [])
    if len(ids) == 3:
        frame[detail_column] = frame[detail_column].astype(str)
    long = frame.melt(id_vars=ids, value_vars=columns, var_name="series", value_name="value")
    long["set"] = np.where(long["series"].str.startswith("val_"), "valid", "train")
    long = long.dropna(subset=["value"])
    detail = [alt.Detail(f"{ids[2]}:N")] if len(ids) == 3 else []
    base = alt.Chart().encode(
        x=alt.X("epoch:Q", title="epoch", axis=alt.Axis(tickMinStep=1)),
        y=alt.Y("value:Q", title=metric, scale=alt.Scale(zero=False)),
        color=alt.Color(f"{run_column}:N", title=color_title),
        tooltip=[f"{run_column}:N", *([f"{ids[2]}:N"] if detail else []), "set:N", "epoch:Q",
                 alt.Tooltip("value:Q", format=".4f")],
    )
    lines = base.mark_line().encode(
        *detail,
        strokeDash=alt.StrokeDash("set:N", title="set", sort=["train", "valid"],
                                  legend=alt.Legend(symbolType="stroke", symbolStrokeWidth=2, symbolSize=300)))
    points = base.mark_point(filled=True, size=25).encode(*detail)
    return alt.layer(lines, points, data=long).properties(title=f"{metric} per epoch", width=DEFAULT_WIDTH,
                                                          height=DEFAULT_HEIGHT)


# --- ROC and precision-recall ----------------------------------------------------------------


def roc_curve_data(predictions: pd.DataFrame, group: str = "fold", grid_points: int = 101) -> pd.DataFrame:
    """ROC points per group plus the vertical mean over groups.

    Args:
        predictions: columns label, probability and ``group`` (e.g. fold); a frame without
            ``group`` is one curve.
        group: column separating the curves.
        grid_points: size of the common FPR grid for the mean (vertical averaging: at each
            FPR, the mean of the groups' sensitivities read off their ROC curves as in
            ``metrics.sensitivity_at_specificity``); the mean curve starts at (0, 0).

    Returns:
        DataFrame curve (group value as text, or 'mean'), fpr, tpr, auc; groups with one class
        only are left out.
    """
    _require(predictions, ["label", "probability"], "roc_curve_data")
    groups = predictions.groupby(group, sort=True) if group in predictions.columns else [("all", predictions)]
    grid = np.linspace(0.0, 1.0, grid_points)
    frames, interpolated = [], []
    for key, rows in groups:
        try:
            fpr, tpr, _ = roc_points(rows["label"].to_numpy(), rows["probability"].to_numpy())
            area = auc(rows["label"].to_numpy(), rows["probability"].to_numpy())
        except UndefinedMetricError:
            continue
        name = str(key[0] if isinstance(key, tuple) else key)
        frames.append(pd.DataFrame({"curve": name, "fpr": fpr, "tpr": tpr, "auc": area}))
        # upper envelope: at a repeated FPR the highest sensitivity, straight lines between points
        interpolated.append([tpr_at_fpr(fpr, tpr, g) for g in grid])
    if not frames:
        raise ValueError("roc_curve_data: no group has both glaucoma and normal images")
    if len(frames) > 1:
        mean_fpr = np.r_[0.0, grid]
        mean_tpr = np.r_[0.0, np.mean(interpolated, axis=0)]
        mean_auc = float(np.trapezoid(mean_tpr, mean_fpr))
        frames.append(pd.DataFrame({"curve": "mean", "fpr": mean_fpr, "tpr": mean_tpr, "auc": mean_auc}))
    return pd.concat(frames, ignore_index=True)


MEAN_CURVE_LABEL = "mean of the folds (vertical average)"


def roc_chart(predictions: pd.DataFrame, group: str = "fold", *, mean: bool = True,
              title: str = "ROC curve") -> alt.LayerChart:
    """ROC curves per ``group`` (thin) and the chance diagonal; with ``mean``, also their
    vertical mean (thick black), named in the legend as such (it is not the pooled ROC).
    Give ``mean=False`` when the groups are different models: their mean is no model's curve.

    ``predictions``: columns label, probability and optionally ``group``.
    """
    data = roc_curve_data(predictions, group)
    if not mean:
        data = data[data["curve"] != "mean"]
    data["legend"] = data["curve"] + " (AUC " + data["auc"].map("{:.3f}".format) + ")"
    data["is_mean"] = data["curve"] == "mean"
    if data["is_mean"].any():
        data.loc[data["is_mean"], "legend"] = f"{MEAN_CURVE_LABEL}, AUC {data.loc[data['is_mean'], 'auc'].iloc[0]:.3f}"
    legends = list(dict.fromkeys(data["legend"]))
    palette = ["#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#eeca3b", "#b279a2", "#ff9da6", "#9d755d",
               "#79706e"]
    colours = [("black" if legend.startswith(MEAN_CURVE_LABEL) else palette[i % len(palette)])
               for i, legend in enumerate(legends)]
    curves = alt.Chart(data).mark_line().encode(
        x=alt.X("fpr:Q", title="1 - specificity (false-positive rate)", scale=alt.Scale(domain=[0, 1])),
        y=alt.Y("tpr:Q", title="sensitivity", scale=alt.Scale(domain=[0, 1])),
        color=alt.Color("legend:N", title="curve", scale=alt.Scale(domain=legends, range=colours),
                        legend=alt.Legend(symbolType="stroke", labelLimit=320, orient="bottom", columns=1)),
        strokeWidth=alt.StrokeWidth("is_mean:N", scale=alt.Scale(domain=[False, True], range=[1.2, 3.5]),
                                    legend=None),
        order="fpr:Q",
        tooltip=["curve:N", alt.Tooltip("fpr:Q", format=".3f"), alt.Tooltip("tpr:Q", format=".3f"),
                 alt.Tooltip("auc:Q", format=".3f")],
    )
    diagonal = alt.Chart(pd.DataFrame({"fpr": [0.0, 1.0], "tpr": [0.0, 1.0]})).mark_line(
        strokeDash=[4, 4], color="gray").encode(x="fpr:Q", y="tpr:Q")
    return alt.layer(diagonal, curves).properties(title=title, width=DEFAULT_WIDTH, height=DEFAULT_HEIGHT)


def precision_recall_chart(predictions: pd.DataFrame, group: str = "fold") -> alt.LayerChart:
    """Precision-recall curve per ``group`` (columns label, probability[, group]) with the
    prevalence (a random classifier's precision) as a dashed line."""
    _require(predictions, ["label", "probability"], "precision_recall_chart")
    groups = predictions.groupby(group, sort=True) if group in predictions.columns else [("all", predictions)]
    frames = []
    for key, rows in groups:
        try:
            prec, rec, _ = precision_recall_points(rows["label"].to_numpy(), rows["probability"].to_numpy())
            ap = average_precision(rows["label"].to_numpy(), rows["probability"].to_numpy())
        except UndefinedMetricError:
            continue
        name = str(key[0] if isinstance(key, tuple) else key)
        frames.append(pd.DataFrame({"curve": f"{name} (AP {ap:.3f})", "recall": rec, "precision": prec}))
    if not frames:
        raise ValueError("precision_recall_chart: no group has glaucoma images")
    data = pd.concat(frames, ignore_index=True)
    prevalence = float(np.mean(predictions["label"]))
    curves = alt.Chart(data).mark_line(interpolate="step-after").encode(
        x=alt.X("recall:Q", title="sensitivity (recall)", scale=alt.Scale(domain=[0, 1])),
        y=alt.Y("precision:Q", title="precision (PPV)", scale=alt.Scale(domain=[0, 1])),
        color=alt.Color("curve:N", title="curve"),
        tooltip=["curve:N", alt.Tooltip("recall:Q", format=".3f"), alt.Tooltip("precision:Q", format=".3f")],
    )
    chance = alt.Chart(pd.DataFrame({"precision": [prevalence]})).mark_rule(strokeDash=[4, 4], color="gray").encode(
        y="precision:Q")
    return alt.layer(curves, chance).properties(title="Precision-recall", width=DEFAULT_WIDTH, height=DEFAULT_HEIGHT)


# --- per-fold metrics ------------------------------------------------------------------------


def fold_metric_strip(table: pd.DataFrame, metrics=("accuracy", "auc", "sensitivity", "specificity", "f1"),
                      summary: pd.DataFrame | None = None) -> alt.LayerChart:
    """One dot per fold for each metric, with the mean (tick) and 95 % t-interval (rule).

    Args:
        table: per-fold table (columns fold and the metrics), see ``cv_summary.per_fold_table``.
        metrics: metric columns to show.
        summary: ``cv_summary.summarize_folds(table)`` (computed here when None).
    """
    _require(table, ["fold", *metrics], "fold_metric_strip")
    long = table.melt(id_vars=["fold"], value_vars=list(metrics), var_name="metric", value_name="value")
    long["fold"] = long["fold"].astype(str)
    if summary is None:
        summary = summarize_folds(table, metrics)
    summary = summary[summary["metric"].isin(metrics)]
    order = list(metrics)
    y = alt.Y("metric:N", title=None, sort=order)
    dots = alt.Chart(long).mark_circle(size=70, opacity=0.8).encode(
        x=alt.X("value:Q", title="value", scale=alt.Scale(zero=False)), y=y, color=alt.Color("fold:N", title="fold"),
        tooltip=["metric:N", "fold:N", alt.Tooltip("value:Q", format=".3f")])
    interval = alt.Chart(summary).mark_rule(strokeWidth=2, color="black").encode(
        x="ci_low:Q", x2="ci_high:Q", y=y,
        tooltip=["metric:N", alt.Tooltip("mean:Q", format=".3f"), alt.Tooltip("ci_low:Q", format=".3f"),
                 alt.Tooltip("ci_high:Q", format=".3f")])
    mean = alt.Chart(summary).mark_tick(thickness=3, size=22, color="black").encode(x="mean:Q", y=y)
    return alt.layer(interval, dots, mean).properties(title="Per-fold metrics (mean and 95% t-interval)",
                                                      width=DEFAULT_WIDTH, height=40 * len(order) + 40)


# --- confusion matrix --------------------------------------------------------------------------


def confusion_matrix_chart(tp: int, fp: int, tn: int, fn: int, title: str = "Confusion matrix", *,
                           max_count: int | None = None, width: int = 260, height: int = 220) -> alt.LayerChart:
    """Heat map of the counts: true class (rows) against predicted class (columns), labelled
    'normal' / 'glaucoma'; false negatives are the (true glaucoma, predicted normal) cell.

    max_count: top of the colour scale (give the same one to matrices shown side by side so
    that one colour means one count); default the largest cell.
    """
    normal, glaucoma = _CLASS_ORDER
    data = pd.DataFrame({
        "true": [glaucoma, glaucoma, normal, normal],
        "predicted": [glaucoma, normal, glaucoma, normal],
        "count": [int(tp), int(fn), int(fp), int(tn)],
        "cell": ["TP", "FN", "FP", "TN"],
    })
    top = int(max_count) if max_count is not None else int(data["count"].max())
    base = alt.Chart(data).encode(
        x=alt.X("predicted:N", title="predicted", sort=_CLASS_ORDER),
        y=alt.Y("true:N", title="true", sort=_CLASS_ORDER),
    )
    heat = base.mark_rect().encode(
        color=alt.Color("count:Q", title="images", scale=alt.Scale(scheme="blues", domain=[0, max(top, 1)])),
        tooltip=["true:N", "predicted:N", "cell:N", "count:Q"])
    text = base.mark_text(fontSize=16).encode(
        text=alt.Text("label:N"),
        color=alt.condition(alt.datum.count > max(top, 1) / 2, alt.value("white"), alt.value("black")))
    text = text.transform_calculate(label="datum.cell + ': ' + datum.count")
    return alt.layer(heat, text).properties(title=title, width=width, height=height)


def confusion_matrix_grid(matrices: pd.DataFrame, columns: int = 3) -> alt.FacetChart:
    """Several confusion matrices side by side with one colour scale and one legend.

    ``matrices``: one row per model: columns model (text), tp, fp, tn, fn.
    """
    _require(matrices, ["model", "tp", "fp", "tn", "fn"], "confusion_matrix_grid")
    normal, glaucoma = _CLASS_ORDER
    cells = []
    for row in matrices.itertuples():
        for cell, true, predicted, count in (("TP", glaucoma, glaucoma, row.tp), ("FN", glaucoma, normal, row.fn),
                                             ("FP", normal, glaucoma, row.fp), ("TN", normal, normal, row.tn)):
            cells.append({"model": str(row.model), "cell": cell, "true": true, "predicted": predicted,
                          "count": int(count)})
    data = pd.DataFrame(cells)
    data["label"] = data["cell"] + ": " + data["count"].astype(str)
    top = max(int(data["count"].max()), 1)
    base = alt.Chart().encode(x=alt.X("predicted:N", title="predicted", sort=_CLASS_ORDER),
                              y=alt.Y("true:N", title="true", sort=_CLASS_ORDER))
    heat = base.mark_rect().encode(
        color=alt.Color("count:Q", title="images", scale=alt.Scale(scheme="blues", domain=[0, top])),
        tooltip=["model:N", "true:N", "predicted:N", "cell:N", "count:Q"])
    text = base.mark_text(fontSize=15).encode(
        text="label:N", color=alt.condition(alt.datum.count > top / 2, alt.value("white"), alt.value("black")))
    return alt.layer(heat, text, data=data).properties(width=230, height=190).facet(
        facet=alt.Facet("model:N", title=None, header=alt.Header(labelFontSize=13, labelLimit=300)),
        columns=columns)


# --- threshold sweep -------------------------------------------------------------------------


def threshold_sweep_chart(sweep: pd.DataFrame, threshold: float | None = None) -> alt.LayerChart:
    """Sensitivity and specificity (left axis) and the false-negative count (right axis)
    against the threshold, with an optional vertical rule at the chosen ``threshold``.

    ``sweep``: ``thresholds.threshold_sweep(...)`` (columns threshold, sensitivity,
    specificity, fn).
    """
    _require(sweep, ["threshold", "sensitivity", "specificity", "fn"], "threshold_sweep_chart")
    data = sweep[np.isfinite(sweep["threshold"]) & (sweep["threshold"] <= 1.0)]
    rates = data.melt(id_vars=["threshold"], value_vars=["sensitivity", "specificity"], var_name="rate",
                      value_name="value")
    x = alt.X("threshold:Q", title="threshold on P(glaucoma)", scale=alt.Scale(domain=[0, 1]))
    lines = alt.Chart(rates).mark_line(interpolate="step-after").encode(
        x=x, y=alt.Y("value:Q", title="sensitivity / specificity", scale=alt.Scale(domain=[0, 1])),
        color=alt.Color("rate:N", title=None),
        tooltip=[alt.Tooltip("threshold:Q", format=".3f"), "rate:N", alt.Tooltip("value:Q", format=".3f")])
    fn = alt.Chart(data).mark_line(interpolate="step-after", strokeDash=[5, 3], color="firebrick").encode(
        x=x, y=alt.Y("fn:Q", title="false negatives (missed glaucoma)", axis=alt.Axis(titleColor="firebrick")),
        tooltip=[alt.Tooltip("threshold:Q", format=".3f"), "fn:Q"])
    layers = alt.layer(lines, fn).resolve_scale(y="independent")
    if threshold is not None:
        rule = alt.Chart(pd.DataFrame({"threshold": [float(threshold)]})).mark_rule(color="black").encode(x="threshold:Q")
        layers = alt.layer(lines, fn, rule).resolve_scale(y="independent")
    return layers.properties(title="Threshold sweep", width=DEFAULT_WIDTH, height=DEFAULT_HEIGHT)


# --- calibration -----------------------------------------------------------------------------


def reliability_diagram(curve: pd.DataFrame, title: str = "Reliability diagram") -> alt.LayerChart:
    """Fraction with glaucoma against mean P(glaucoma) per bin (point size = images), with the
    diagonal of perfect calibration. ``curve``: ``calibration.reliability_curve(...)``; an
    optional ``curve`` column (text) draws several curves in colour."""
    _require(curve, ["mean_predicted", "fraction_glaucoma", "count"], "reliability_diagram")
    data = curve.copy()
    if "curve" not in data.columns:
        data["curve"] = "model"
    axis = alt.Scale(domain=[0, 1])
    diagonal = alt.Chart(pd.DataFrame({"x": [0.0, 1.0], "y": [0.0, 1.0]})).mark_line(
        strokeDash=[4, 4], color="gray").encode(x="x:Q", y="y:Q")
    base = alt.Chart(data).encode(
        x=alt.X("mean_predicted:Q", title="mean predicted P(glaucoma)", scale=axis),
        y=alt.Y("fraction_glaucoma:Q", title="fraction with glaucoma", scale=axis),
        color=alt.Color("curve:N", title=None),
    )
    line = base.mark_line()
    points = base.mark_circle().encode(
        size=alt.Size("count:Q", title="images"),
        tooltip=[alt.Tooltip("mean_predicted:Q", format=".3f"), alt.Tooltip("fraction_glaucoma:Q", format=".3f"),
                 "count:Q"])
    return alt.layer(diagonal, line, points).properties(title=title, width=DEFAULT_WIDTH, height=DEFAULT_HEIGHT)
