"""An experiment exported to a local SQLite MLflow store, read back with MLflow's own client."""

from __future__ import annotations

import sys

import pytest

from glaucoma_core.errors import UserError
from glaucoma_core.export.source import resolve_source, workbench_of

mlflow = pytest.importorskip("mlflow", reason="the mlflow extra is not installed")


def _export(filled, uri, **options):
    from glaucoma_core.export.mlflow_export import export_to_mlflow

    source = resolve_source(filled.store, f"exp:{filled.experiment_id}")
    return export_to_mlflow(filled.store, source, uri, n_resamples=50, **options)


@pytest.mark.slow
def test_parent_and_nested_fold_runs_read_back(filled, tmp_path):
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    first = _export(filled, uri)
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("glaucoma-workbench")
    assert experiment.artifact_location.startswith("file:") and str(tmp_path) in experiment.artifact_location
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 3
    parent = client.get_run(first["parent_run_id"])
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert len(children) == 2 and parent.data.tags.get("mlflow.parentRunId") is None
    assert parent.data.tags["workbench.experiment"] == f"exp:{filled.experiment_id}"
    experiment_row = filled.store.experiment(filled.experiment_id)
    assert parent.data.tags["workbench.fingerprint"] == experiment_row["fingerprint"]
    assert parent.data.params["backbone"] == "small_cnn" and parent.data.params["input_size"] == "32"
    assert parent.data.params["backbone_options.crop_size"] == str(experiment_row["config"]["backbone_options"]["crop_size"])

    # the CV summary is the one `evaluate exp:N` gives
    result = workbench_of(filled.store).evaluate(f"exp:{filled.experiment_id}", n_resamples=50)
    summary = result["summary"].set_index("metric")
    for metric in ("auc", "sensitivity", "specificity"):
        assert parent.data.metrics[f"cv_{metric}_mean"] == pytest.approx(summary.loc[metric, "mean"])
        assert parent.data.metrics[f"cv_{metric}_sd"] == pytest.approx(summary.loc[metric, "sd"])
        assert parent.data.metrics[f"cv_{metric}_ci95_low"] == pytest.approx(summary.loc[metric, "ci_low"])
    assert parent.data.metrics["pooled_auc"] == pytest.approx(result["pooled"]["auc"])
    assert parent.data.metrics["cv_folds"] == 2

    for child in children:
        run_id = int(child.data.tags["workbench.run"].split(":")[1])
        assert child.data.params["fold"] == str(filled.store.run(run_id)["fold"])
        history = client.get_metric_history(child.info.run_id, "val_loss")
        epochs = filled.store.epochs([run_id])
        assert [(m.step, m.value) for m in sorted(history, key=lambda m: m.step)] == \
            [(int(e), pytest.approx(v)) for e, v in zip(epochs.epoch, epochs.val_loss, strict=True)]
        final = filled.store.final_metrics([run_id]).set_index(["split", "metric"])["value"]
        assert child.data.metrics["test_auc"] == pytest.approx(final[("test", "auc")])
        assert child.data.metrics["valid_sensitivity"] == pytest.approx(final[("valid", "sensitivity")])
        names = {a.path for a in client.list_artifacts(child.info.run_id)}
        assert {"roc_curve.json", "confusion_matrix.json", "predictions.csv", "model"} <= names
        assert [a.path for a in client.list_artifacts(child.info.run_id, "model")] == ["model/model.keras"]
        assert child.info.status == "FINISHED"

    # exporting again updates the same runs: no new run, no repeated metric points
    second = _export(filled, uri)
    assert second["parent_run_id"] == first["parent_run_id"] and not second["created"]
    assert [f["mlflow_run_id"] for f in second["fold_runs"]] == [f["mlflow_run_id"] for f in first["fold_runs"]]
    assert len(client.search_runs([experiment.experiment_id])) == 3
    for child in children:
        assert len(client.get_metric_history(child.info.run_id, "val_loss")) == 3


def test_missing_mlflow_names_the_extra(filled, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "mlflow", None)
    monkeypatch.setitem(sys.modules, "mlflow.tracking", None)
    with pytest.raises(UserError, match=r"glaucoma-workbench\[mlflow\]"):
        _export(filled, f"sqlite:///{tmp_path / 'x.db'}")


def test_bad_tracking_uri_is_a_user_error(filled, tmp_path):
    with pytest.raises(UserError):
        _export(filled, "nosuchscheme://x")
    with pytest.raises(UserError, match="empty"):
        _export(filled, " ")


@pytest.mark.slow
def test_a_fold_trained_again_replaces_its_nested_run(filled, tmp_path):
    """A newer run of a fold takes the place of the old one (deleted, restorable in MLflow)."""
    from mlflow.tracking import MlflowClient

    from glaucoma_core.export.mlflow_export import export_to_mlflow
    from glaucoma_core.store import RunStore
    from tests.export.conftest import record_fold
    from tests.training.fakes import tiny_config

    store = RunStore(tmp_path / "home")
    config = tiny_config(feature_cache=False, prepare_disc_crop="off")
    experiment = store.create_experiment("again", config.to_dict(), str(filled.data), "fp", [1])
    old, _ = record_fold(store, experiment, 1, config, filled.data, seed=5, epochs=1)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    first = export_to_mlflow(store, resolve_source(store, f"exp:{experiment}"), uri, n_resamples=20, log_models=False)
    new, _ = record_fold(store, experiment, 1, config, filled.data, seed=6, epochs=1)
    second = export_to_mlflow(store, resolve_source(store, f"exp:{experiment}"), uri, n_resamples=20, log_models=False)
    assert second["parent_run_id"] == first["parent_run_id"]
    assert [f["workbench_run"] for f in second["fold_runs"]] == [f"run:{new}"]
    assert second["deleted"] == [first["fold_runs"][0]["mlflow_run_id"]]
    client = MlflowClient(uri)
    active = client.search_runs([second["experiment_id"]])
    assert sorted(r.data.tags.get("workbench.run", "parent") for r in active) == sorted([f"run:{new}", "parent"])
    assert old != new
