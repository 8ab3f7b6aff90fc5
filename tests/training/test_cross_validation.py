"""Cross-validation over folds: experiment and runs, cancel, resume, summary."""

from __future__ import annotations

import functools
import os

import pandas as pd
import pytest

from glaucoma_core.commands.reports import cv_text
from glaucoma_core.data.index import scan_dataset
from glaucoma_core.store import RunStore
from glaucoma_core.training.cross_validation import (
    CrossValidationError,
    create_cv_experiment,
    pending_runs,
    run_cv,
)
from glaucoma_core.training.executors import LocalExecutor
from glaucoma_core.workbench import Workbench
from tests.training.fakes import fake_train_fold, make_tiny_dataset, tiny_config


@pytest.fixture
def setup(tmp_path):
    data = make_tiny_dataset(tmp_path / "data", folds=3, n_train=2, n_valid=2, n_test=2, size=16)
    store = RunStore(tmp_path / "home")
    index = scan_dataset(data, home=store.home)
    return store, data, index


def report_of(store, exp):
    """The experiment's report as the cv command and the Cross-validation page get it."""
    return Workbench(store.home).cv_report(f"exp:{exp}", n_resamples=20)


def test_cv_records_every_fold_and_summarises(setup):
    store, data, index = setup
    exp = create_cv_experiment(store, data, tiny_config(), index=index, name="tiny")
    trained = run_cv(store, exp, index=index, train_fn=fake_train_fold, echo=None)
    assert trained["experiment_id"] == exp and [o["fold"] for o in trained["trained"]] == [1, 2, 3]
    report = report_of(store, exp)
    assert report["experiment"] == f"exp:{exp}" and report["status"] == "finished"
    assert [f["fold"] for f in report["folds"]] == [1, 2, 3]
    per_fold = report["results"]["per_fold"]
    assert per_fold["fold"].tolist() == [1, 2, 3]
    assert (per_fold["auc"] == 1.0).all() and (per_fold["tp"] == 2).all() and (per_fold["fn"] == 0).all()
    auc = report["results"]["summary"].set_index("metric").loc["auc"]
    assert (auc["mean"], auc["sd"], auc["ci_low"], auc["ci_high"], auc["n_folds"]) == (1.0, 0.0, 1.0, 1.0, 3)
    runs = store.runs(exp)
    assert set(runs["status"]) == {"finished"} and len(runs) == 3
    assert len(store.predictions(runs["id"].tolist(), split="test")) == 3 * 4
    assert store.epochs(runs["id"].tolist())["epoch"].max() == 3
    assert "95% t-interval" in cv_text(report)


def test_unknown_fold_and_flat_dataset_are_refused(setup, tmp_path):
    store, data, index = setup
    with pytest.raises(CrossValidationError, match="fold.* 7 not in the dataset"):
        create_cv_experiment(store, data, tiny_config(), folds=[1, 7], index=index)
    flat = tmp_path / "flat"
    make_tiny_dataset(tmp_path / "tmpflat", folds=1, n_train=1, n_valid=0, n_test=0, size=8)
    (tmp_path / "tmpflat" / "fold_1" / "train").rename(flat)
    with pytest.raises(CrossValidationError, match="no fold folders"):
        create_cv_experiment(store, flat, tiny_config())


def test_cancel_stops_after_the_current_fold_and_keeps_finished_ones(setup):
    store, data, index = setup
    exp = create_cv_experiment(store, data, tiny_config(), index=index)

    def cancel_in_fold_2(fold, epoch):
        if fold == 2 and epoch == 1:  # the user presses Cancel during fold 2
            Workbench(store.home).cancel(f"exp:{exp}")

    train = functools.partial(fake_train_fold, on_epoch=cancel_in_fold_2)
    assert run_cv(store, exp, index=index, train_fn=train, echo=None)["stopped"]
    report = report_of(store, exp)
    by_fold = store.runs(exp).set_index("fold")
    assert by_fold.loc[1, "status"] == "finished"
    assert by_fold.loc[2, "status"] == "cancelled" and by_fold.loc[2, "epochs_done"] == 1  # stopped after its epoch
    assert store.model_path(int(by_fold.loc[2, "id"])).exists()  # cancelled keeps its best model
    assert by_fold.loc[3, "status"] == "cancelled" and pd.isna(by_fold.loc[3, "epochs_done"])  # never started
    assert report["status"] == "incomplete" and [f["fold"] for f in report["missing_folds"]] == [2, 3]
    assert report["results"]["per_fold"]["fold"].tolist() == [1]

    # resume: only folds 2 and 3 are trained again; fold 1's run is untouched
    fold1_run = int(by_fold.loc[1, "id"])
    todo = pending_runs(store, exp)
    assert len(todo) == 2 and fold1_run not in todo
    run_cv(store, exp, index=index, train_fn=fake_train_fold, echo=None)
    report = report_of(store, exp)
    assert report["status"] == "finished"
    assert report["folds"][0]["run_id"] == fold1_run
    assert len(store.runs(exp)) == 5  # the cancelled runs stay as history


def test_a_failing_fold_is_recorded_and_the_others_go_on(setup):
    store, data, index = setup
    exp = create_cv_experiment(store, data, tiny_config(), index=index)

    def train(config, index, fold, **kw):
        return fake_train_fold(config, index, fold, fail_at_epoch=2 if fold == 1 else None, **kw)

    run_cv(store, exp, executor=LocalExecutor(), index=index, train_fn=train, echo=None)
    report = report_of(store, exp)
    assert report["results"]["per_fold"]["fold"].tolist() == [2, 3]
    assert report["missing_folds"][0]["status"] == "failed"
    assert "fake failure at epoch 2" in report["missing_folds"][0]["error"]
    assert pending_runs(store, exp) and len(pending_runs(store, exp)) == 1


@pytest.mark.slow
def test_ray_executor_runs_folds_on_a_local_ray_instance(tmp_path):
    pytest.importorskip("ray")
    from glaucoma_core.training.executors import RayExecutor

    data = make_tiny_dataset(tmp_path / "data", folds=2, n_train=8, n_valid=4, n_test=4, size=32)
    store = RunStore(tmp_path / "home")
    exp = create_cv_experiment(store, data, tiny_config(epochs=1), name="ray-tiny")
    run_cv(store, exp, executor=RayExecutor(num_cpus=2), echo=None)
    report = report_of(store, exp)
    assert report["status"] == "finished", store.runs(exp)[["fold", "status", "error"]].to_string()
    assert [f["fold"] for f in report["folds"]] == [1, 2]
    runs = store.runs(exp)
    assert set(runs["status"]) == {"finished"}
    assert len(store.predictions(runs["id"].tolist(), split="test")) == 2 * 8
    assert set(runs["pid"]) != {os.getpid()}  # trained by Ray workers, not this process
    for run_id in runs["id"]:
        assert store.load_model(int(run_id)) is not None
