"""A study exported to MLflow: every trial with a finished fold becomes a parent run (with its
folds nested) in one MLflow experiment named after the study, tagged with the trial, its
parameters and the validation-only selection; exporting twice adds nothing."""

from __future__ import annotations

import pytest

from glaucoma_core.cli import main
from tests.studies import fakes
from tests.studies.conftest import head_definition
from tests.training.fakes import make_tiny_dataset

mlflow = pytest.importorskip("mlflow", reason="the mlflow extra is not installed")


@pytest.mark.slow
def test_every_trial_of_a_study_reads_back_from_mlflow(tmp_path, capsys):
    import json

    from mlflow.tracking import MlflowClient

    from glaucoma_core.workbench import Workbench

    data = make_tiny_dataset(tmp_path / "data", folds=2, n_train=4, n_valid=8, n_test=8, size=16)
    bench = Workbench(tmp_path / "home")
    study = bench.create_study(head_definition(data, n_trials=3, folds=[1, 2]))
    bench.run_study(study, train_fn=fakes.fake_study_train_fold, echo=None)
    report = bench.study_report(study)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    argv = ["--home", str(bench.home), "export", "mlflow", str(report["study"]), "--tracking-uri", uri,
            "--no-models", "--bootstrap", "20", "--json"]
    assert main(argv) == 0
    first = json.loads(capsys.readouterr().out)
    assert len(first["trials"]) == 3 and not first["skipped"] and all(t["created"] for t in first["trials"])
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name(first["experiment_name"])
    runs = client.search_runs([experiment.experiment_id])
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert len(parents) == 3 and len(runs) == 3 + 3 * 2  # each trial's two folds nested under it
    selected = [r for r in parents if r.data.tags["workbench.selected"] == "true"]
    assert len(selected) == 1 and selected[0].data.tags["workbench.trial"] == str(report["selected"])
    assert all(r.data.tags["workbench.study"] == str(report["study"]) for r in parents)
    assert all("trial.head_dropout" in r.data.tags for r in parents)
    assert main(argv) == 0  # again: the same runs are updated, none added
    second = json.loads(capsys.readouterr().out)
    assert not any(t["created"] for t in second["trials"])
    assert len(client.search_runs([experiment.experiment_id])) == len(runs)
