"""A model card (Markdown) for an exported run or fold ensemble, written from the run store.

What a person deploying or reviewing the model needs on one page: what data it was trained and
tested on (folds, counts, the dataset's fingerprint), the training configuration, the test
metrics with their intervals, the decision threshold and the rule that chose it on validation
images, the dataset's shortcut warnings (a property that is not the disease separating the
classes), and the intended use and limits. Every figure comes from the store (and the dataset,
when its folder is still there); nothing is typed in by hand.
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path

import pandas as pd

from glaucoma_core.export.source import ExportSource, workbench_of

MODEL_CARD_FILE = "model_card.md"
SUMMARY_ROWS = ("auc", "sensitivity", "specificity", "accuracy", "balanced_accuracy", "f1", "fn_rate")
POOLED_ROWS = ("auc", "sensitivity", "specificity", "accuracy", "balanced_accuracy", "f1", "sens_at_spec95",
               "average_precision", "brier")

INTENDED_USE = """\
- **Research tool, not a medical device.** This model has not been cleared or approved by any
  regulator and must not be used to diagnose, screen or treat anyone. Its output is a research
  measurement for the people who trained it and their collaborators.
- Input: one colour fundus photograph of one eye, RGB, as the training images were taken
  (same kind of camera, field and centring). Output: P(glaucoma), the mean over the fold models,
  and their spread (a large spread means the answer depends on which images a model saw).
- The figures above are estimates on held-out images **of the same dataset**. They say nothing
  about other cameras, populations, disease stages or image quality until the model is
  validated on such images (external validation).
- A false negative (a glaucoma eye called normal) is the costly error here: the threshold's rule
  and its validation sensitivity are stated above; re-choose the threshold on validation data
  of the setting where the model is used, never on its test data.
"""


def model_card(store, source: ExportSource, rule=None, *, n_resamples: int = 1000,
               export_metadata: dict | None = None, check_dataset: bool = True) -> str:
    """The model card of ``source`` as Markdown text.

    Args:
        store: the RunStore holding the runs.
        source: what is exported (:func:`glaucoma_core.export.source.resolve_source`).
        rule: the :class:`~glaucoma_core.workbench.ThresholdRule` choosing the decision threshold
            on validation predictions (default: target sensitivity 0.95).
        n_resamples: bootstrap resamples of the intervals.
        export_metadata: the SavedModel's ``export.json`` (signatures, input size), if any.
        check_dataset: scan the dataset folder (when it still exists) for per-split counts and
            shortcut warnings.
    """
    from glaucoma_core import __version__
    from glaucoma_core.workbench import ThresholdRule

    rule = rule or ThresholdRule("target_sensitivity", 0.95)
    workbench = workbench_of(store)
    runs = [store.run(r) for r in source.run_ids]
    config = runs[0]["config"] if runs else (source.experiment or {}).get("config", {})
    experiment = source.experiment
    title = (f"exp:{experiment['id']} ({experiment['name']})" if source.kind == "experiment" and experiment
             else source.reference)
    lines = [f"# Model card: glaucoma classifier {title}", "",
             f"Written {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} by glaucoma-workbench {__version__} "
             f"from the run store `{store.path}`.", ""]

    # ---- model
    n_models = len(source.run_ids)
    lines += ["## Model", ""]
    what = (f"an ensemble of the {n_models} fold models of a cross-validation (mean P(glaucoma))" if n_models > 1
            else "one trained model")
    lines += [f"- What: {what}; runs {', '.join(f'run:{r}' for r in source.run_ids)}.",
              f"- Network: `{config.get('backbone')}` (weights `{config.get('weights')}`, trainable "
              f"`{config.get('trainable')}`), input {config.get('input_size')} px RGB; preprocessing inside the model.",
              "- Positive class: glaucoma (label 1); the output is P(glaucoma)."]
    from glaucoma_core.export.saved_model import PREPARATION_FILE, outside_preparation

    preparation = outside_preparation(config)
    size = (export_metadata or {}).get("input_size", config.get("input_size"))
    if export_metadata and preparation:
        lines.append(f"- SavedModel signature: `serving_default` takes uint8 RGB pixels ({size} x {size}) "
                     f"*prepared as in training* (there is no `serve_bytes`: a plain decode would feed the model "
                     f"other pixels).")
    elif export_metadata:
        lines.append(f"- SavedModel signatures: `serving_default` (uint8 pixels, any size, resized inside as "
                     f"the workbench resizes) and `serve_bytes` (encoded image files); input size {size} px.")
    if preparation:
        lines.append(f"- Image preparation before the network: `{preparation}` (glaucoma_core.preparation), "
                     f"**not** inside the SavedModel; its settings are in `{PREPARATION_FILE}` beside it. Serve "
                     f"files with `python -m glaucoma_core serve-export DIR IMAGE...` or "
                     f"`glaucoma_core.export.serving.predict_files(DIR, files)`, which prepare each file exactly "
                     f"as training did (`glaucoma_core.preparation.load_prepared_array`) and run the SavedModel.")
    else:
        lines.append("- Image preparation before the network: none (decode and resize only).")
    lines.append("")

    # ---- data
    lines += ["## Data and folds", ""]
    data_root = (experiment or {}).get("data_root") or (runs[0]["data_root"] if runs else None)
    fingerprint = (experiment or {}).get("fingerprint")
    lines += [f"- Dataset folder at training time: `{data_root}`",
              f"- Dataset fingerprint (content, labels and splits): `{fingerprint or 'not recorded'}`"]
    if experiment:
        lines.append(f"- Folds of the experiment: {', '.join(str(f) for f in experiment['folds'])}; "
                     f"exported: {', '.join(str(r['fold']) for r in runs)}")
    predictions = store.predictions(source.run_ids)
    dataset, dataset_note = _dataset(workbench, data_root, fingerprint) if check_dataset else (None, "not checked")
    lines += ["", _counts_table(predictions, dataset, runs), ""]
    if dataset_note:
        lines += [f"Dataset check: {dataset_note}", ""]

    # ---- configuration
    lines += ["## Training configuration", "", "| setting | value |", "|---|---|"]
    for key in sorted(config):
        lines.append(f"| {key} | `{_md(config[key])}` |")
    lines.append("")

    # ---- metrics and threshold
    lines += _metrics_section(workbench, source, rule, n_resamples)

    # ---- shortcuts
    lines += ["## Shortcut warnings", ""]
    lines += _shortcut_lines(dataset)
    lines += ["", "## Intended use and limits", "", INTENDED_USE]
    return "\n".join(lines)


def rule_words(rule) -> str:
    """'target sensitivity 0.95', 'youden', 'fixed 0.5': a threshold rule in words."""
    name = rule.method.replace("_", " ")
    return f"{name} {rule.target:g}" if rule.target is not None else name


def write_model_card(text: str, folder: str | os.PathLike) -> Path:
    """Write ``text`` to ``folder/model_card.md`` (atomically) and return the path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / MODEL_CARD_FILE
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path


# ---------------------------------------------------------------- sections


def _metrics_section(workbench, source: ExportSource, rule, n_resamples: int) -> list[str]:
    from glaucoma_core.errors import UserError

    lines = ["## Decision threshold", ""]
    choice, note = workbench.decision_threshold(source.run_ids, rule)
    lines.append(f"- **P(glaucoma) >= {choice.threshold:.4f}** calls glaucoma.")
    lines.append(f"- Rule: {rule_words(rule)}; for the exported model it is chosen once on the validation "
                 f"predictions of its {len(source.run_ids)} model(s) pooled ({choice.n_valid} images): validation "
                 f"sensitivity {_num(choice.valid_sensitivity)}, specificity {_num(choice.valid_specificity)}. "
                 "Never chosen on test images.")
    if note:
        lines.append(f"- Note: {note}.")
    lines += ["", "## Test metrics", ""]
    try:
        result = workbench.evaluate(source.reference if source.kind == "experiment" else f"run:{source.run_ids[0]}",
                                    rule, n_resamples=n_resamples)
    except UserError as exc:
        return lines + [f"Not available: {exc}", ""]
    if source.kind == "experiment":
        lines += ["Each fold's model on its own test images, at a threshold chosen by the same rule on that fold's "
                  "validation images. Over folds: mean ± sd and the 95 % t-interval of the mean.", "",
                  "| metric | mean | sd | 95 % interval | folds |", "|---|---|---|---|---|"]
        summary = result["summary"].set_index("metric")
        for name in SUMMARY_ROWS:
            if name in summary.index:
                row = summary.loc[name]
                lines.append(f"| {name} | {_num(row['mean'])} | {_num(row['sd'])} | {_num(row['ci_low'])} – "
                             f"{_num(row['ci_high'])} | {int(row['n_folds'])} |")
        pooled, intervals = result["pooled"], result["pooled_intervals"]
        lines += ["", f"Pooled out-of-fold test predictions: {pooled['n']} images ({pooled['n_glaucoma']} glaucoma), "
                      f"TP {pooled['tp']}, FP {pooled['fp']}, TN {pooled['tn']}, **FN {pooled['fn']}**.", ""]
    else:
        pooled, intervals = result["metrics"], result["intervals"]
        lines += [f"Test images of fold {source.run_ids and workbench.run(source.run_ids[0])['fold']}: "
                  f"{pooled['n']} ({pooled['n_glaucoma']} glaucoma), TP {pooled['tp']}, FP {pooled['fp']}, "
                  f"TN {pooled['tn']}, **FN {pooled['fn']}**, at threshold {result['threshold']['threshold']:.4f}.", ""]
    lines += ["| metric | value | 95 % interval | method |", "|---|---|---|---|"]
    for name in POOLED_ROWS:
        if name in pooled:
            iv = intervals.get(name, {}) or {}
            lines.append(f"| {name} | {_num(pooled[name])} | {_num(iv.get('low'))} – {_num(iv.get('high'))} | "
                         f"{iv.get('method') or ''} |")
    lines.append("")
    return lines


def _dataset(workbench, data_root, fingerprint) -> tuple:
    """(Dataset or None, note) for the counts and the shortcut check."""
    from glaucoma_core.errors import UserError

    if not data_root or not Path(data_root).is_dir():
        return None, f"the dataset folder `{data_root}` is not on this machine; shortcut check not run."
    try:
        dataset = workbench.dataset(data_root)
    except UserError as exc:
        return None, f"the dataset could not be scanned ({exc}); shortcut check not run."
    from glaucoma_core.data.index import dataset_fingerprint

    now = dataset_fingerprint(dataset.index)
    if fingerprint and now != fingerprint:
        return dataset, ("**the dataset changed since training** (its fingerprint is now "
                         f"`{now}`): counts and shortcut warnings below are of today's folder.")
    return dataset, "scanned now; unchanged since training (same fingerprint)." if fingerprint else ""


def _counts_table(predictions: pd.DataFrame, dataset, runs: list[dict]) -> str:
    rows = ["| fold | train images (glaucoma) | validation (glaucoma) | test (glaucoma) |", "|---|---|---|---|"]
    usable = dataset.usable if dataset is not None else None
    for run in runs:
        fold = run["fold"]
        cells = []
        for split in ("train", "valid", "test"):
            if split == "train":
                if usable is None or "split" not in usable:
                    cells.append("n/a")
                    continue
                part = usable[(usable["split"] == "train") & (usable["fold"] == fold)] if fold is not None \
                    else usable[usable["split"] == "train"]
            else:
                part = predictions[(predictions["run_id"] == run["id"]) & (predictions["split"] == split)]
            cells.append(f"{len(part)} ({int(part['label'].sum())})" if len(part) else "0")
        rows.append(f"| {'-' if fold is None else fold} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def _shortcut_lines(dataset) -> list[str]:
    from glaucoma_core.data.shortcuts import DEFAULT_MARGIN, shortcut_report

    if dataset is None:
        return ["Not checked: the dataset folder is not available (see *Data and folds*)."]
    report = shortcut_report(dataset.usable)
    flagged = report[report["flagged"]]
    lines = []
    if flagged.empty:
        lines.append(f"No image property separates the classes on its own (every property's AUC within "
                     f"0.5 ± {DEFAULT_MARGIN}).")
    else:
        what = "property separates the classes on its own" if len(flagged) == 1 else \
            "properties separate the classes on their own"
        lines.append(f"**{len(flagged)} image {what}**: the model may have learnt the file rather than the eye.")
        lines += [f"- {message}" for message in flagged["message"]]
    lines += ["", "| property | AUC as a glaucoma score | flagged |", "|---|---|---|"]
    for row in report.itertuples():
        lines.append(f"| {row.name} | {_num(row.auc)} | {'yes' if row.flagged else 'no'} |")
    return lines


# ---------------------------------------------------------------- formatting


def _num(value, digits: int = 3) -> str:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return "n/a"
    return "n/a" if math.isnan(number) else f"{number:.{digits}f}"


def _md(value) -> str:
    return str(value).replace("|", "\\|").replace("`", "'")
