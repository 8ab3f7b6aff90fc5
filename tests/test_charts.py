"""Chart builders return valid Vega-Lite specs with the expected fields."""

from __future__ import annotations

import json

import altair as alt
import numpy as np
import pandas as pd
import pytest

from glaucoma_core import charts
from glaucoma_core.evaluation.calibration import reliability_curve
from glaucoma_core.evaluation.cv_summary import per_fold_table
from glaucoma_core.evaluation.thresholds import threshold_sweep


def _predictions(folds=3, n=30, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for fold in range(1, folds + 1):
        y = np.tile([0, 1], n // 2)
        p = np.clip(rng.normal(0.35 + 0.3 * y, 0.2), 0, 1)
        rows.append(pd.DataFrame({"fold": fold, "split": "test", "label": y, "probability": p}))
    return pd.concat(rows, ignore_index=True)


def _spec(chart) -> dict:
    assert isinstance(chart, (alt.Chart, alt.LayerChart))
    spec = chart.to_dict()  # validates against the Vega-Lite schema
    json.dumps(spec)
    return spec


def _fields(spec) -> set[str]:
    found = set()

    def walk(node):
        if isinstance(node, dict):
            if isinstance(node.get("field"), str):
                found.add(node["field"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(spec)
    return found


def test_training_curves_several_runs():
    epochs = pd.DataFrame({"run_id": [1, 1, 2, 2], "epoch": [1, 2, 1, 2], "loss": [0.7, 0.5, 0.8, 0.6],
                           "val_loss": [0.75, 0.6, 0.85, np.nan]})
    chart = charts.training_curves(epochs, "loss")
    spec = _spec(chart)
    assert {"epoch", "value", "run_id", "set"} <= _fields(spec)
    assert set(chart.data["set"]) == {"train", "valid"} and len(chart.data) == 7
    with pytest.raises(ValueError, match="auc"):
        charts.training_curves(epochs, "auc")


def test_roc_chart_has_fold_curves_and_vertical_mean():
    preds = _predictions()
    data = charts.roc_curve_data(preds)
    assert set(data["curve"]) == {"1", "2", "3", "mean"}
    mean = data[data.curve == "mean"]
    assert mean.fpr.iloc[0] == 0 and mean.tpr.iloc[0] == 0 and mean.tpr.iloc[-1] == pytest.approx(1.0)
    assert mean.tpr.is_monotonic_increasing
    spec = _spec(charts.roc_chart(preds))
    assert {"fpr", "tpr", "legend"} <= _fields(spec)


def test_roc_mean_of_identical_folds_is_that_curve():
    one = _predictions(folds=1)
    two = pd.concat([one, one.assign(fold=2)])
    data = charts.roc_curve_data(two, grid_points=201)
    mean = data[data.curve == "mean"]
    assert mean.auc.iloc[0] == pytest.approx(data[data.curve == "1"].auc.iloc[0], abs=0.01)


def test_precision_recall_chart():
    spec = _spec(charts.precision_recall_chart(_predictions()))
    assert {"recall", "precision", "curve"} <= _fields(spec)


def test_fold_metric_strip():
    table = per_fold_table(_predictions())
    spec = _spec(charts.fold_metric_strip(table))
    assert {"value", "metric", "fold", "mean", "ci_low", "ci_high"} <= _fields(spec)


def test_confusion_matrix_chart_names_classes():
    chart = charts.confusion_matrix_chart(tp=8, fp=2, tn=15, fn=3)
    spec = _spec(chart)
    assert {"true", "predicted", "count"} <= _fields(spec)
    data = chart.data.set_index("cell")
    assert data.loc["FN", "true"] == "glaucoma" and data.loc["FN", "predicted"] == "normal"
    assert data.loc["FN", "count"] == 3


def test_threshold_sweep_chart():
    preds = _predictions(folds=1)
    sweep = threshold_sweep(preds.label, preds.probability)
    spec = _spec(charts.threshold_sweep_chart(sweep, threshold=0.4))
    assert {"threshold", "value", "rate", "fn"} <= _fields(spec)


def test_reliability_diagram():
    preds = _predictions(folds=1)
    spec = _spec(charts.reliability_diagram(reliability_curve(preds.label, preds.probability)))
    assert {"mean_predicted", "fraction_glaucoma", "count"} <= _fields(spec)


def test_missing_columns_give_clear_error():
    with pytest.raises(ValueError, match="needs column"):
        charts.roc_chart(pd.DataFrame({"label": [0, 1]}))


# --- issue 13: charts that do not mislead -----------------------------------------------------


def test_roc_mean_is_named_in_the_legend_and_can_be_left_out():
    preds = _predictions()
    chart = charts.roc_chart(preds)
    _spec(chart)
    legends = set(chart.layer[1].data["legend"])
    assert any(label.startswith(charts.MEAN_CURVE_LABEL) for label in legends)
    scale = chart.to_dict()["layer"][1]["encoding"]["color"]["scale"]
    assert "black" in scale["range"] and len(scale["domain"]) == len(legends)  # the mean has its own legend entry
    models = preds.rename(columns={"fold": "model"}).assign(model=lambda d: "model " + d["model"].astype(str))
    without = charts.roc_chart(models, group="model", mean=False)
    _spec(without)
    assert not any("mean" in label for label in without.layer[1].data["legend"])


def test_training_curve_legends_are_strokes_and_folds_share_a_colour():
    epochs = pd.DataFrame({"experiment": ["a", "a", "a", "a", "b", "b"], "fold": [1, 1, 2, 2, 1, 1],
                           "epoch": [1, 2, 1, 2, 1, 2], "loss": [0.7, 0.5, 0.8, 0.6, 0.9, 0.7],
                           "val_loss": [0.75, 0.6, 0.85, 0.7, 0.95, 0.8]})
    chart = charts.training_curves(epochs, "loss", run_column="experiment", detail_column="fold",
                                   color_title="experiment")
    spec = _spec(chart)
    line = spec["layer"][0]["encoding"]
    assert line["strokeDash"]["legend"]["symbolType"] == "stroke"
    assert line["color"]["field"] == "experiment" and line["detail"]["field"] == "fold"
    assert set(chart.data["set"]) == {"train", "valid"}


def test_confusion_matrix_grid_has_one_colour_scale():
    matrices = pd.DataFrame({"model": ["exp 1", "exp 2"], "tp": [8, 80], "fp": [2, 5], "tn": [15, 90], "fn": [3, 1]})
    chart = charts.confusion_matrix_grid(matrices)
    spec = chart.to_dict()
    assert spec["spec"]["layer"][0]["encoding"]["color"]["scale"]["domain"] == [0, 90]
    assert set(chart.data["model"]) == {"exp 1", "exp 2"}
    single = charts.confusion_matrix_chart(8, 2, 15, 3, max_count=90).to_dict()
    assert single["layer"][0]["encoding"]["color"]["scale"]["domain"] == [0, 90]
