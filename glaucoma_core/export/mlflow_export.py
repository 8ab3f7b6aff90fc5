"""An experiment (a cross-validation) as MLflow runs: a parent run, one nested run per fold.

Layout in the tracking store (``--tracking-uri``: ``sqlite:///path/mlflow.db``, a server, or a
``file:`` folder where MLflow allows it):

- the MLflow experiment ``glaucoma-workbench`` (or the name given) holds
- a **parent run** per workbench experiment: the configuration as params (nested keys joined with
  dots), the CV summary over folds as metrics (``cv_<metric>_mean``, ``_sd``, ``_ci95_low``,
  ``_ci95_high``), pooled out-of-fold metrics (``pooled_<metric>``), tags with the workbench
  experiment (``workbench.experiment``, ``workbench.store``, ``workbench.fingerprint``, ...);
- a **nested run** per fold (tag ``mlflow.parentRunId``): params ``fold`` and the configuration,
  the per-epoch curves (step = epoch), the final metrics per split (``test_auc``,
  ``valid_sensitivity``...), and artefacts: ``roc_curve.json`` and ``confusion_matrix.json`` of
  the test split, ``predictions.csv`` and the model file ``model/model.keras``.

Idempotent: runs are found again by the tag ``workbench.key`` (the store's uuid and the
experiment or run), so a second export updates the same runs (metrics with the same step and
timestamp are not repeated, artefacts are overwritten) instead of duplicating them. A fold run
that a newer run of the same fold replaced is deleted (MLflow keeps it restorable).

MLflow is optional: ``pip install 'glaucoma-workbench[mlflow]'`` (or requirements-mlflow.txt).
"""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path

import pandas as pd

from glaucoma_core.errors import UserError
from glaucoma_core.export.source import ExportSource, workbench_of

DEFAULT_EXPERIMENT = "glaucoma-workbench"
KEY_TAG = "workbench.key"
EPOCH_SKIP = {"run_id", "fold", "epoch", "recorded_at"}
CV_METRICS = ("auc", "accuracy", "sensitivity", "specificity", "f1", "precision", "balanced_accuracy",
              "sens_at_spec85", "sens_at_spec95", "fn_rate")
POOLED_METRICS = ("auc", "accuracy", "sensitivity", "specificity", "f1", "balanced_accuracy", "sens_at_spec95",
                  "pauc_spec90", "average_precision", "brier", "tp", "fp", "tn", "fn")
MAX_PARAM_LENGTH = 6000


class MlflowMissing(UserError):
    """MLflow is not installed."""


def _client(tracking_uri: str):
    try:
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise MlflowMissing("MLflow is not installed: pip install 'glaucoma-workbench[mlflow]' "
                            "(or pip install -r requirements-mlflow.txt)") from None
    if not tracking_uri or not str(tracking_uri).strip():
        raise UserError("--tracking-uri is empty; e.g. sqlite:///mlflow.db")
    from mlflow.exceptions import MlflowException

    try:
        client = MlflowClient(tracking_uri=str(tracking_uri))
        client.search_experiments(max_results=1)  # opens (and for sqlite creates) the store now
    except MlflowException as exc:
        raise UserError(f"tracking store {tracking_uri}: {exc.message}") from None
    return client


def default_artifact_location(tracking_uri: str) -> str | None:
    """Where artefacts go for a new MLflow experiment: beside a local SQLite file
    (``<folder of the .db>/mlartifacts``); for other stores MLflow's own default."""
    uri = str(tracking_uri)
    if uri.startswith("sqlite:///"):
        db = Path(uri[len("sqlite:///"):])  # sqlite:///rel.db -> rel.db, sqlite:////abs.db -> /abs.db
        return (db.expanduser().resolve().parent / "mlartifacts").as_uri()
    return None


def export_to_mlflow(store, source: ExportSource, tracking_uri: str, *, experiment_name: str = DEFAULT_EXPERIMENT,
                     rule=None, n_resamples: int = 1000, log_models: bool = True) -> dict:
    """Export ``source`` (an experiment, or one run) to the MLflow tracking store at ``tracking_uri``.

    Args:
        store: the RunStore.
        source: from :func:`glaucoma_core.export.source.resolve_source`.
        tracking_uri: MLflow tracking URI (``sqlite:///mlflow.db`` for a local store).
        experiment_name: the MLflow experiment the runs go to (created if missing).
        rule: threshold rule of the CV summary (a ThresholdRule; default fixed 0.5, as ``evaluate``).
        n_resamples: bootstrap resamples of the pooled intervals.
        log_models: also upload each fold's model file.

    Returns {tracking_uri, experiment_id, parent_run_id, fold_runs: [{fold, workbench_run, mlflow_run_id,
    created}], created (bool: the parent is new), deleted: superseded fold runs}.
    """
    from mlflow.entities import RunStatus

    client = _client(tracking_uri)
    mlflow_experiment = _experiment(client, experiment_name, tracking_uri)
    store_id = str(getattr(store, "store_uuid", None) or store.path)
    workbench = workbench_of(store)
    runs = {r: store.run(r) for r in source.run_ids}
    exp = source.experiment
    parent_key = f"{store_id}/{source.reference}"
    tags = {KEY_TAG: parent_key, "workbench.reference": source.reference, "workbench.store": store_id,
            "workbench.store_path": str(store.path), "workbench.kind": source.kind}
    if exp:
        tags.update({"workbench.experiment": f"exp:{exp['id']}", "workbench.experiment_name": str(exp["name"]),
                     "workbench.fingerprint": str(exp.get("fingerprint") or ""),
                     "workbench.data_root": str(exp.get("data_root") or ""),
                     "workbench.folds": ",".join(str(f) for f in exp["folds"])})
    config = (exp or {}).get("config") or next(iter(runs.values()))["config"]
    started = [r["started_at"] for r in runs.values() if r.get("started_at")]
    ended = [r["finished_at"] for r in runs.values() if r.get("finished_at")]
    name = f"exp:{exp['id']} {exp['name']}" if source.kind == "experiment" and exp else source.reference
    parent, created = _find_or_create(client, mlflow_experiment, parent_key, name, tags,
                                      start=min(started) if started else None)

    # parent: configuration and the CV summary
    summary_metrics, rule_text = _summary_metrics(workbench, source, rule, n_resamples)
    stamp = _ms(max(ended)) if ended else _ms(parent.info.start_time / 1000)
    _log(client, parent.info.run_id, params=flatten(config), metrics={k: (v, 0) for k, v in summary_metrics.items()},
         timestamp=stamp, tags={**tags, "workbench.threshold_rule": rule_text, "workbench.runs":
                                ",".join(f"run:{r}" for r in source.run_ids)})

    # one nested run per fold
    fold_runs, current_keys = [], set()
    for run_id, run in runs.items():
        key = f"{store_id}/run:{run_id}/{run.get('uuid') or ''}"
        current_keys.add(key)
        fold_tags = {KEY_TAG: key, "mlflow.parentRunId": parent.info.run_id, "workbench.run": f"run:{run_id}",
                     "workbench.fold": str(run["fold"]), "workbench.store": store_id,
                     "workbench.status": str(run["status"])}
        child, child_created = _find_or_create(client, mlflow_experiment, key, f"fold {run['fold']} (run:{run_id})",
                                               fold_tags, start=run.get("started_at"))
        _export_fold(client, store, child.info.run_id, run_id, run, log_models=log_models)
        client.set_terminated(child.info.run_id, RunStatus.to_string(RunStatus.FINISHED),
                              end_time=_ms(run["finished_at"]) if run.get("finished_at") else None)
        fold_runs.append({"fold": run["fold"], "workbench_run": f"run:{run_id}", "mlflow_run_id": child.info.run_id,
                          "created": child_created})
    deleted = []
    for old in _children(client, mlflow_experiment, parent.info.run_id):
        if old.data.tags.get(KEY_TAG) not in current_keys:
            client.delete_run(old.info.run_id)
            deleted.append(old.info.run_id)
    client.set_terminated(parent.info.run_id, RunStatus.to_string(RunStatus.FINISHED),
                          end_time=_ms(max(ended)) if ended else None)
    return {"tracking_uri": str(tracking_uri), "experiment_id": mlflow_experiment, "experiment_name": experiment_name,
            "parent_run_id": parent.info.run_id, "created": created, "fold_runs": fold_runs, "deleted": deleted,
            "metrics": summary_metrics, "threshold_rule": rule_text}


# ---------------------------------------------------------------- pieces


def flatten(config, prefix: str = "") -> dict[str, str]:
    """Params from a (nested) configuration: ``{"backbone_options.alpha": "0.35", ...}``."""
    params = {}
    for key, value in (config or {}).items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            params.update(flatten(value, f"{name}."))
        else:
            text = json.dumps(value) if isinstance(value, (list, dict, bool)) or value is None else str(value)
            params[name] = text[:MAX_PARAM_LENGTH]
    return params


def _summary_metrics(workbench, source: ExportSource, rule, n_resamples: int) -> tuple[dict, str]:
    """Metrics of the parent run (the same figures as ``evaluate``) and the rule's words."""
    from glaucoma_core.workbench import ThresholdRule

    rule = rule or ThresholdRule()
    reference = source.reference if source.kind == "experiment" else f"run:{source.run_ids[0]}"
    try:
        result = workbench.evaluate(reference, rule, n_resamples=n_resamples)
    except UserError:
        return {}, rule.describe()  # no predictions yet: the parent still holds params and folds
    metrics = {}
    if source.kind == "experiment":
        for row in result["summary"].itertuples():
            if row.metric not in CV_METRICS:
                continue
            for suffix, value in (("mean", row.mean), ("sd", row.sd), ("ci95_low", row.ci_low),
                                  ("ci95_high", row.ci_high)):
                metrics[f"cv_{row.metric}_{suffix}"] = value
        metrics["cv_folds"] = float(len(result["per_fold"]))
        pooled, intervals = result["pooled"], result["pooled_intervals"]
    else:
        pooled, intervals = result["metrics"], result["intervals"]
    for name in POOLED_METRICS:
        if name in pooled:
            metrics[f"pooled_{name}"] = pooled[name]
            iv = intervals.get(name) or {}
            if iv.get("low") is not None:
                metrics[f"pooled_{name}_ci95_low"] = iv["low"]
                metrics[f"pooled_{name}_ci95_high"] = iv["high"]
    return {k: float(v) for k, v in metrics.items() if _finite(v)}, rule.describe()


def _export_fold(client, store, mlflow_run: str, run_id: int, run: dict, *, log_models: bool) -> None:
    params = {"fold": str(run["fold"]), "workbench_run": f"run:{run_id}", **flatten(run["config"])}
    epochs = store.epochs([run_id])
    metrics = []
    for row in epochs.to_dict(orient="records"):
        stamp = _ms(row.get("recorded_at") or 0)
        for key, value in row.items():
            if key not in EPOCH_SKIP and _finite(value):
                metrics.append((key, float(value), int(row["epoch"]), stamp))
    final = store.final_metrics([run_id])
    stamp = _ms(run.get("finished_at") or 0)
    for row in final.itertuples():
        if _finite(row.value):
            metrics.append((f"{row.split}_{row.metric}", float(row.value), 0, stamp))
    if run.get("best_epoch") is not None and _finite(run["best_epoch"]):
        metrics.append(("best_epoch", float(run["best_epoch"]), 0, stamp))
    if run.get("seconds") is not None and _finite(run["seconds"]):
        metrics.append(("training_seconds", float(run["seconds"]), 0, stamp))
    _log(client, mlflow_run, params=params, metric_rows=metrics)
    predictions = store.predictions([run_id])
    with tempfile.TemporaryDirectory(prefix="glaucoma-mlflow-") as tmp:
        folder = Path(tmp)
        predictions.to_csv(folder / "predictions.csv", index=False)
        test = predictions[predictions["split"] == "test"]
        (folder / "roc_curve.json").write_text(json.dumps(_roc(test), indent=1))
        (folder / "confusion_matrix.json").write_text(json.dumps(_confusion(test), indent=1))
        for name in ("predictions.csv", "roc_curve.json", "confusion_matrix.json"):
            client.log_artifact(mlflow_run, str(folder / name))
    if log_models:
        from glaucoma_core.store import ModelFileProblem

        try:  # only this run's own model file (identity and sha256 checked), never a stray one
            model = store.verified_model_path(run_id)
        except ModelFileProblem:
            return
        client.log_artifact(mlflow_run, str(model), artifact_path="model")


def _roc(test: pd.DataFrame) -> dict:
    """The test split's ROC curve (points from evaluation.metrics), or the reason there is none."""
    from glaucoma_core.evaluation.metrics import auc, roc_points

    labels, scores = test["label"].to_numpy(), test["probability"].to_numpy()
    try:
        fpr, tpr, thresholds = roc_points(labels, scores)
        value = auc(labels, scores)
    except ValueError as exc:
        return {"split": "test", "n": int(len(test)), "error": str(exc)}
    return {"split": "test", "n": int(len(test)), "n_glaucoma": int(labels.sum()), "auc": float(value),
            "fpr": [float(x) for x in fpr], "tpr": [float(x) for x in tpr],
            "thresholds": [float(x) if math.isfinite(x) else None for x in thresholds]}


def _confusion(test: pd.DataFrame, threshold: float = 0.5) -> dict:
    from glaucoma_core.evaluation.metrics import confusion_counts

    counts = confusion_counts(test["label"].to_numpy(), test["probability"].to_numpy(), threshold) if len(test) else \
        {"tp": 0, "fp": 0, "tn": 0, "fn": 0}
    return {"split": "test", "threshold": threshold, "positive_class": "glaucoma (label 1)",
            "rows": "true class", "columns": "predicted class", "labels": ["normal", "glaucoma"],
            "matrix": [[int(counts["tn"]), int(counts["fp"])], [int(counts["fn"]), int(counts["tp"])]],
            **{k: int(v) for k, v in counts.items()}}


def _experiment(client, name: str, tracking_uri: str) -> str:
    found = client.get_experiment_by_name(name)
    if found is not None:
        if found.lifecycle_stage != "active":
            raise UserError(f"MLflow experiment {name!r} is deleted in {tracking_uri}; restore it or pass another "
                            "--mlflow-experiment")
        return found.experiment_id
    return client.create_experiment(name, artifact_location=default_artifact_location(tracking_uri),
                                    tags={"created_by": "glaucoma-workbench"})


def _find_or_create(client, experiment_id: str, key: str, name: str, tags: dict, start=None):
    """(run, created): the active run tagged ``workbench.key = key``, else a new one."""
    found = client.search_runs([experiment_id], filter_string=f"tags.`{KEY_TAG}` = '{_quote(key)}'", max_results=2)
    if found:
        client.update_run(found[0].info.run_id, name=name)
        return found[0], False
    run = client.create_run(experiment_id, start_time=_ms(start) if start else None, tags=tags, run_name=name)
    return run, True


def _children(client, experiment_id: str, parent_run_id: str) -> list:
    return client.search_runs([experiment_id], filter_string=f"tags.`mlflow.parentRunId` = '{parent_run_id}'",
                              max_results=10_000)


def _log(client, run_id: str, *, params: dict | None = None, metrics: dict | None = None, metric_rows=None,
         timestamp: int = 0, tags: dict | None = None) -> None:
    """Log params (those not yet there), metrics and tags in batches MLflow accepts."""
    from mlflow.entities import Metric, Param, RunTag

    existing = client.get_run(run_id).data.params
    new_params = [Param(k, v) for k, v in (params or {}).items() if k not in existing]
    changed = {k: (existing[k], v) for k, v in (params or {}).items() if k in existing and existing[k] != v}
    if changed:
        raise UserError(f"MLflow run {run_id} already has other values for {', '.join(sorted(changed))}; "
                        "the workbench run changed since the last export")
    rows = [Metric(k, float(v), timestamp, int(step)) for k, (v, step) in (metrics or {}).items()]
    rows += [Metric(k, v, int(ts), int(step)) for k, v, step, ts in (metric_rows or [])]
    tag_rows = [RunTag(k, str(v)) for k, v in (tags or {}).items()]
    for i in range(0, max(len(new_params), 1), 100):
        client.log_batch(run_id, params=new_params[i:i + 100])
    for i in range(0, len(rows), 1000):
        client.log_batch(run_id, metrics=rows[i:i + 1000])
    if tag_rows:
        client.log_batch(run_id, tags=tag_rows)


def _ms(seconds) -> int:
    return int(round(float(seconds) * 1000))


def _finite(value) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def _quote(text: str) -> str:
    return str(text).replace("\\", "\\\\").replace("'", "\\'")


__all__ = ["DEFAULT_EXPERIMENT", "KEY_TAG", "MlflowMissing", "export_to_mlflow", "flatten"]


def export_study_to_mlflow(store, reference: str, tracking_uri: str, *, experiment_name: str | None = None,
                           rule=None, n_resamples: int = 1000, log_models: bool = True) -> dict:
    """Export every trial of a study to MLflow: each trial (a cross-validation experiment) as
    its own parent run with nested fold runs (see :func:`export_to_mlflow`), all in one MLflow
    experiment named after the study, tagged with the study, the trial, its parameters and
    whether the study's rule selected it (on validation). Trials without a finished fold are
    skipped and listed. Idempotent, as each trial's export is.

    Returns {study, experiment_name, selected, trials: [{trial, experiment, parent_run_id,
    created}], skipped: [{trial, experiment, reason}]}.
    """
    from glaucoma_core.errors import UserError
    from glaucoma_core.export.source import resolve_source

    workbench = workbench_of(store)
    report = workbench.study_report(reference)
    study = str(report["study"])
    name = experiment_name or f"{DEFAULT_EXPERIMENT}/{study.replace(':', '-')}"
    client = _client(tracking_uri)
    exported, skipped = [], []
    for trial in report["trials"]:
        if not trial.get("experiment"):
            skipped.append({"trial": trial["id"], "experiment": None, "reason": "no experiment yet"})
            continue
        try:
            source = resolve_source(store, trial["experiment"])
        except UserError as exc:  # pruned before any fold finished, or still queued
            skipped.append({"trial": trial["id"], "experiment": trial["experiment"], "reason": str(exc)})
            continue
        result = export_to_mlflow(store, source, tracking_uri, experiment_name=name, rule=rule,
                                  n_resamples=n_resamples, log_models=log_models)
        tags = {"workbench.study": study, "workbench.trial": str(trial["id"]),
                "workbench.trial_status": str(trial.get("status")),
                "workbench.selected": str(trial["id"] == report.get("selected")).lower(),
                **{f"trial.{key}": str(value) for key, value in (trial.get("params") or {}).items()}}
        for key, value in tags.items():
            client.set_tag(result["parent_run_id"], key, value)
        exported.append({"trial": trial["id"], "experiment": trial["experiment"],
                         "parent_run_id": result["parent_run_id"], "created": result["created"]})
    return {"study": study, "experiment_name": name, "selected": report.get("selected"), "trials": exported,
            "skipped": skipped}
