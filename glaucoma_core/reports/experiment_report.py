"""A self-contained HTML report of a cross-validation experiment.

One file that opens offline: the figures are the app's own charts (``glaucoma_core.charts``)
rendered to inline SVG by ``vl-convert-python`` (no JavaScript, no network), the missed-glaucoma
thumbnails are JPEG data URIs. Contents: dataset and folds, configuration, threshold rule,
per-fold table, mean ± sd with 95 % t-intervals, pooled figures with their intervals, ROC,
precision-recall and confusion matrix, the false-negative gallery and a methods paragraph a
paper could start from. The figures are exactly :meth:`Workbench.evaluate`'s.
"""

from __future__ import annotations

import base64
import html
import io
import math
import time
from typing import Any

import pandas as pd

from glaucoma_core.errors import UserError
from glaucoma_core.evaluation.metrics import METRIC_LABELS

PER_FOLD_COLUMNS = ["fold", "run_id", "n", "n_glaucoma", "threshold", "auc", "accuracy", "sensitivity",
                    "specificity", "f1", "tp", "fp", "tn", "fn"]
SUMMARY_METRICS = ["auc", "accuracy", "sensitivity", "specificity", "f1", "balanced_accuracy"]
POOLED_METRICS = ["auc", "accuracy", "sensitivity", "specificity", "f1", "balanced_accuracy", "average_precision",
                  "sens_at_spec85", "sens_at_spec95", "brier"]
GALLERY_LIMIT = 24
THUMBNAIL_PX = 160

_STYLE = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;
color:#222;line-height:1.45}
h1{margin-bottom:.2em} h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.8em}
table{border-collapse:collapse;margin:.6em 0;font-size:.92em} th,td{border:1px solid #ddd;padding:.25em .6em;
text-align:right} th{background:#f4f4f4} td.l,th.l{text-align:left}
.muted{color:#666;font-size:.9em} .figs{display:flex;flex-wrap:wrap;gap:1.5em;align-items:flex-start}
.gallery{display:flex;flex-wrap:wrap;gap:.8em} .gallery figure{margin:0;width:170px;font-size:.8em}
.gallery img{width:160px;height:160px;object-fit:contain;background:#000;display:block}
.methods{background:#f8f8f4;border-left:4px solid #bbb;padding:.6em 1em}
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _number(value: Any, digits: int = 3) -> str:
    if value is None:
        return "–"
    try:
        number = float(value)
    except (TypeError, ValueError):
        return _e(value)
    if math.isnan(number):
        return "–"
    if number.is_integer() and abs(number) >= 1 and digits == 3 and not isinstance(value, float):
        return str(int(number))
    return f"{number:.{digits}f}"


def _table(frame: pd.DataFrame, left: tuple[str, ...] = ()) -> str:
    head = "".join(f'<th class="{"l" if c in left else ""}">{_e(c)}</th>' for c in frame.columns)
    rows = []
    for record in frame.itertuples(index=False):
        cells = []
        for column, value in zip(frame.columns, record, strict=True):
            text = _e(value) if column in left or isinstance(value, str) else _number(value)
            cells.append(f'<td class="{"l" if column in left else ""}">{text}</td>')
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def chart_svg(chart) -> str:
    """An Altair chart as inline SVG (vl-convert: no browser, no network)."""
    try:
        import vl_convert
    except ImportError:
        return ('<p class="muted">(figure not drawn: install vl-convert-python, '
                'see requirements.txt)</p>')
    svg = vl_convert.vegalite_to_svg(chart.to_dict())
    return svg[svg.index("<svg"):] if "<svg" in svg else svg


def _thumbnail_uri(path: str) -> str | None:
    from glaucoma_core.data.images import ImageProblem, load_rgb

    try:
        image = load_rgb(path)
    except (ImageProblem, OSError):
        return None
    image.thumbnail((THUMBNAIL_PX, THUMBNAIL_PX))
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=85)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def missed_glaucoma(test: pd.DataFrame, thresholds: dict) -> pd.DataFrame:
    """The glaucoma test images called normal, each at its own fold's threshold, lowest
    probability first. ``thresholds``: {fold: ThresholdChoice dict} of ``evaluate``."""
    if test.empty:
        return test
    limit = test["fold"].map(lambda f: float(thresholds.get(int(f), thresholds.get(f, {"threshold": 0.5}))["threshold"]))
    missed = test[(test["label"] == 1) & (test["probability"] < limit)].copy()
    missed["threshold"] = limit[missed.index]
    return missed.sort_values("probability")


def _counts(bench, data_root: str | None, folds: list[int]) -> str:
    if not data_root:
        return '<p class="muted">The dataset folder is not recorded.</p>'
    try:
        index = bench.dataset(data_root).index
    except UserError as exc:
        return f'<p class="muted">The dataset could not be read now: {_e(exc)}</p>'
    good = index[index["problem"] == ""]
    if good.empty:
        return '<p class="muted">No usable image in the dataset now.</p>'
    good = good[good["fold"].isin(folds)] if good["fold"].notna().any() else good
    table = (good.assign(cls=good["label"].map({0: "normal", 1: "glaucoma"}))
             .pivot_table(index=["fold", "split"], columns="cls", values="path", aggfunc="count", fill_value=0)
             .reset_index())
    table.columns.name = None
    unique = good["sha256"].nunique()
    return (f"<p>{unique:,} unique usable images; each appears once per fold (in one of train, valid and "
            f"test), so the rows below count every fold's copy.</p>" + _table(table, left=("split",)))


def _methods(experiment: dict, config: dict, result: dict, rule_text: str, n_resamples: int) -> str:
    pooled = result["pooled"]
    folds = experiment["folds"]
    stopping = (f"early stopping on {config.get('early_stopping_monitor')} (patience "
                f"{config.get('early_stopping_patience')}, best weights restored)" if config.get("early_stopping")
                else "no early stopping")
    weights = config.get("weights") or "none"
    weights_text = "randomly initialised" if str(weights).lower() == "none" else f"initialised from {weights} weights"
    augment = [name for name, key in (("horizontal flips", "augment_hflip"), ("vertical flips", "augment_vflip"))
               if config.get(key)]
    augment += [f"{name} ±{config[key]:g}" for name, key in (("rotation", "augment_rotation"), ("zoom", "augment_zoom"),
                                                            ("brightness", "augment_brightness"),
                                                            ("contrast", "augment_contrast")) if config.get(key)]
    summary = result["summary"].set_index("metric")
    auc_line = ""
    if "auc" in summary.index:
        row = summary.loc["auc"]
        auc_line = (f" Across folds the AUC was {row['mean']:.3f} ± {row['sd']:.3f} (mean ± sd; 95 % t-interval "
                    f"{row['ci_low']:.3f}–{row['ci_high']:.3f}).")
    interval = result["pooled_intervals"].get("auc", {})
    pooled_auc = (f" On the pooled out-of-fold test predictions ({int(pooled['n'])} images, "
                  f"{int(pooled['n_glaucoma'])} with glaucoma) the AUC was {pooled['auc']:.3f} (95 % DeLong interval "
                  f"{interval.get('low', float('nan')):.3f}–{interval.get('high', float('nan')):.3f}), sensitivity "
                  f"{pooled['sensitivity']:.3f} and specificity {pooled['specificity']:.3f}; "
                  f"{int(pooled['fn'])} glaucoma images were missed.")
    return (
        f"<p>A {_e(config.get('backbone'))} network ({_e(weights_text)}, input {config.get('input_size')} × "
        f"{config.get('input_size')} px) was trained to classify fundus photographs as glaucoma or normal with "
        f"{len(folds)}-fold cross-validation. In each fold the model was trained on that fold's training images with "
        f"the {_e(config.get('optimizer'))} optimiser (learning rate {config.get('learning_rate'):g}, "
        f"{_e(config.get('lr_schedule'))} schedule, batch size {config.get('batch_size')}, at most "
        f"{config.get('epochs')} epochs, {_e(config.get('loss'))} loss, {stopping}"
        f"{'; augmentation: ' + _e(', '.join(augment)) if augment else ''}); the best epoch was selected on the "
        f"fold's validation images and the model evaluated once on its held-out test images. The decision threshold "
        f"was {_e(rule_text)}.{auc_line}{pooled_auc} AUC intervals use DeLong's method, the other pooled intervals "
        f"a percentile bootstrap of {n_resamples} resamples. Trained with the glaucoma workbench "
        f"(experiment {experiment['id']}, seed {config.get('seed')}).</p>")


def experiment_report(bench, reference, rule, *, n_resamples: int, seed: int = 0) -> str:
    """The HTML text of the report of experiment ``reference`` under threshold ``rule``.
    Raises UserError when the experiment has no finished fold."""
    from glaucoma_core import charts

    experiment = bench.experiment(reference)
    ref = f"exp:{experiment['id']}"
    result = bench.evaluate(ref, rule, n_resamples=n_resamples, seed=seed)
    config = experiment["config"]
    predictions = bench.predictions(ref)
    test = predictions[predictions["split"] == "test"]
    per_fold = result["per_fold"][[c for c in PER_FOLD_COLUMNS if c in result["per_fold"].columns]]
    summary = result["summary"]
    summary = summary[summary["metric"].isin(SUMMARY_METRICS)].copy()
    summary.insert(0, "metric name", summary["metric"].map(lambda k: METRIC_LABELS.get(k, k)))
    summary = summary.drop(columns=["metric"] + (["note"] if not summary["note"].fillna("").astype(str).str.strip().any()
                                                   else [])).rename(columns={"ci_low": "95 % low", "ci_high": "95 % high",
                                                                             "n_folds": "folds"})
    pooled_rows = []
    for key in POOLED_METRICS:
        interval = result["pooled_intervals"].get(key, {})
        pooled_rows.append({"metric": METRIC_LABELS.get(key, key), "estimate": result["pooled"].get(key),
                            "95 % low": interval.get("low"), "95 % high": interval.get("high"),
                            "interval": interval.get("method", ""), "note": interval.get("note", "")})
    pooled = pd.DataFrame(pooled_rows)
    p = result["pooled"]
    figures = [chart_svg(charts.roc_chart(test, group="fold"))]
    try:
        figures.append(chart_svg(charts.precision_recall_chart(test, group="fold")))
    except ValueError as exc:
        figures.append(f'<p class="muted">No precision-recall curve: {_e(exc)}</p>')
    figures.append(chart_svg(charts.confusion_matrix_chart(p["tp"], p["fp"], p["tn"], p["fn"],
                                                           title="Pooled confusion matrix")))
    missed = missed_glaucoma(test, result["thresholds"])
    gallery = []
    for row in missed.head(GALLERY_LIMIT).itertuples():
        uri = _thumbnail_uri(row.path)
        name = str(row.path).replace("\\", "/").rsplit("/", 1)[-1]
        image = f'<img src="{uri}" alt="{_e(name)}">' if uri else '<div class="muted">(image unreadable)</div>'
        gallery.append(f"<figure>{image}<figcaption>{_e(name)}<br>fold {int(row.fold)} · P = "
                       f"{row.probability:.3f} (threshold {row.threshold:.3f})</figcaption></figure>")
    config_table = pd.DataFrame({"setting": list(config), "value": [str(v) for v in config.values()]})
    thresholds = pd.DataFrame([{"fold": f, "threshold": c["threshold"], "chosen by": c["method"],
                                "validation images": c.get("n_valid", 0)} for f, c in result["thresholds"].items()])
    missing = result.get("runs_without_predictions") or []
    status = ("every fold finished" if not missing else
              "folds not counted: " + ", ".join(f"fold {m['fold']} (run {m['run_id']}, {m['status']})" for m in missing))
    title = f"Experiment {experiment['id']}: {experiment['name']}"
    parts = [
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">",
        f"<title>{_e(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{_e(title)}</h1>",
        f'<p class="muted">Report written {time.strftime("%Y-%m-%d %H:%M")} by the glaucoma workbench · '
        f"reference <code>{_e(ref)}</code> · {_e(status)}. The same figures as "
        f"<code>python -m glaucoma_core evaluate {_e(ref)}</code> with this threshold rule.</p>",
        "<h2>Methods</h2>", f'<div class="methods">{_methods(experiment, config, result, rule.describe(), n_resamples)}</div>',
        "<h2>Dataset and folds</h2>",
        f"<p>Folder <code>{_e(experiment.get('data_root'))}</code> · folds {_e(', '.join(map(str, experiment['folds'])))}"
        f" · content fingerprint <code>{_e(experiment.get('fingerprint') or '–')}</code></p>",
        _counts(bench, experiment.get("data_root"), list(experiment["folds"])),
        "<h2>Threshold rule</h2>", f"<p>{_e(rule.describe())}.</p>", _table(thresholds, left=("chosen by",)),
        "<h2>Per fold (test images)</h2>", _table(per_fold),
        "<h2>Mean ± sd over folds, 95 % t-interval</h2>", _table(summary, left=("metric name", "note")),
        '<p class="muted">Interval ends at 0 or 1 are capped to the metric\'s range.</p>',
        "<h2>Pooled out-of-fold test predictions</h2>",
        f"<p>Every test image once, by the model that never saw it: {int(p['n'])} images, {int(p['n_glaucoma'])} "
        f"glaucoma, {int(p['fn'])} missed (FN), {int(p['fp'])} false alarms (FP).</p>",
        _table(pooled, left=("metric", "interval", "note")),
        f'<div class="figs">{"".join(figures)}</div>',
        f"<h2>Missed glaucoma ({len(missed)})</h2>",
        (f'<p class="muted">Lowest probability first; the first {min(len(missed), GALLERY_LIMIT)} shown.</p>'
         f'<div class="gallery">{"".join(gallery)}</div>') if len(missed) else
        "<p>No glaucoma test image is missed at these thresholds.</p>",
        "<h2>Configuration</h2>", _table(config_table, left=("setting", "value")),
        "</body></html>",
    ]
    return "\n".join(parts)
