"""Studies end to end with a fake fold trainer: trials are experiments, selection on validation,
leaderboard with Holm-corrected tests, pruning, screening, resuming without retraining."""

from __future__ import annotations

import sqlite3
from collections import Counter

import numpy as np
import optuna
import pytest

from glaucoma_core.errors import UserError
from glaucoma_core.studies.runner import load_study, remember_executor, resolve_executor
from tests.studies import fakes
from tests.studies.conftest import head_definition


def run(bench, definition, **kwargs):
    study_id = bench.create_study(definition)
    return bench.run_study(study_id, train_fn=fakes.fake_study_train_fold, echo=None, **kwargs)


def test_report_has_the_documented_shape(bench, study_data):
    report = run(bench, head_definition(study_data))
    assert report["study"] == f"study:{report['study_id']}" and report["status"] == "finished"
    assert report["rule"]["metric"] == "auc" and report["rule"]["split"] == "valid"
    assert len(report["trials"]) == 5
    selected = report["selected"]
    assert selected in {t["id"] for t in report["trials"]}
    for trial in report["trials"]:
        assert set(trial) >= {"id", "params", "status", "valid", "test", "experiment", "p_vs_leader"}
        assert trial["status"] == "complete" and trial["folds_trained"] == [1, 2, 3]
        for split in ("valid", "test"):
            auc = trial[split]["auc"]
            assert set(auc) >= {"mean", "std", "ci95"} and len(auc["ci95"]) == 2 and auc["ci95"][0] <= auc["mean"]
        name = bench.experiment(trial["experiment"])["name"]
        assert name == f"study-{report['study_id']}-trial-{trial['id']}"
        if trial["id"] == selected:
            assert trial["p_vs_leader"] is None
        else:
            p = trial["p_vs_leader"]
            assert p["correction"] == "holm" and p["split"] == "valid"
            for test in ("nadeau_bengio", "wilcoxon", "delong"):
                assert p[test] is None or p[test] >= trial["p_vs_leader_raw"][test] - 1e-12
    # the selected trial has the best mean validation AUC
    best = max(report["trials"], key=lambda t: t["valid"]["auc"]["mean"])
    assert best["id"] == selected
    assert report["n_indistinguishable"] == sum(bool(t["indistinguishable"]) for t in report["trials"])
    assert report["estimate"]["kind"] == "selected_trial_test"
    assert report["estimate"]["mean"] == pytest.approx(best["test"]["auc"]["mean"])
    assert report["nested"]["kind"] == "nested_cv" and len(report["nested"]["per_fold"]) == 3
    assert set(report["importance"]["values"]) <= {"head_dropout", "learning_rate"}
    listed = bench.studies()
    assert [s["study"] for s in listed] == [report["study"]] and listed[0]["complete"] == 5


def test_shuffling_test_labels_leaves_the_choice_unchanged(bench, study_data):
    report = run(bench, head_definition(study_data, n_trials=6))
    before = {t["id"]: t["valid"]["auc"]["mean"] for t in report["trials"]}
    rng = np.random.default_rng(1)
    with sqlite3.connect(bench.store.path) as conn:
        rows = conn.execute("SELECT rowid FROM predictions WHERE split = 'test'").fetchall()
        labels = rng.integers(0, 2, len(rows))
        probabilities = rng.uniform(0, 1, len(rows))
        conn.executemany("UPDATE predictions SET label = ?, probability = ? WHERE rowid = ?",
                         [(int(lab), float(p), r[0]) for lab, p, r in zip(labels, probabilities, rows, strict=True)])
    again = bench.study_report(report["study"])
    assert again["selected"] == report["selected"]
    assert {t["id"]: t["valid"]["auc"]["mean"] for t in again["trials"]} == before
    assert again["trials"][0]["test"]["auc"] != report["trials"][0]["test"]["auc"]  # the test rows did change


def test_nested_option_is_what_the_estimate_reports(bench, study_data):
    report = run(bench, head_definition(study_data, nested=True, n_trials=3))
    assert report["estimate"]["kind"] == "nested_cv"
    assert report["estimate"]["mean"] == pytest.approx(report["nested"]["test"]["mean"])
    assert "nested" in report["estimate"]["text"]


def test_pruning_cancels_the_remaining_folds(bench, study_data):
    space = {"head_dropout": [0.25, 0.3, 0.5, 0.0, 0.49], "learning_rate": [3e-3]}
    report = run(bench, head_definition(study_data, space=space, sampler="grid", pruner="median", n_trials=5))
    pruned = [t for t in report["trials"] if t["status"] == "pruned"]
    assert pruned, [t["valid"]["auc"]["mean"] for t in report["trials"]]
    for trial in pruned:
        runs = bench.store.runs(int(trial["experiment"].split(":")[1]))
        assert len(trial["folds_trained"]) < 3
        assert set(runs["status"]) <= {"finished", "cancelled"} and (runs["status"] == "cancelled").any()
    assert report["selected"] not in {t["id"] for t in pruned}


def test_screening_runs_only_the_top_on_every_fold(bench, study_data):
    report = run(bench, head_definition(study_data, screen_folds=1, top=2, n_trials=5))
    statuses = Counter(t["status"] for t in report["trials"])
    assert statuses == {"complete": 2, "screened": 3}
    for t in report["trials"]:
        assert t["folds_trained"] == ([1, 2, 3] if t["status"] == "complete" else [1])
    assert report["selected"] in {t["id"] for t in report["trials"] if t["status"] == "complete"}


def test_a_killed_study_resumes_without_training_a_fold_twice(bench, study_data):
    study_id = bench.create_study(head_definition(study_data, n_trials=4))
    calls = {"n": 0}

    def dies_on_the_seventh_fold(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 7:
            raise KeyboardInterrupt  # what a killed process leaves: a running trial, a running fold
        return fakes.fake_study_train_fold(*args, **kwargs)

    with pytest.raises(KeyboardInterrupt):
        bench.run_study(study_id, executor="local", train_fn=dies_on_the_seventh_fold, echo=None)
    finished_before = set(bench.store.runs()[lambda r: r["status"] == "finished"]["id"])
    assert len(finished_before) == 6
    assert load_study(bench, study_id)[0].user_attrs["executor"] == {"name": "local", "address": None}
    fakes.TRAINED.clear()
    # no executor given: the remembered one (local: the folds are trained in this process)
    report = bench.run_study(study_id, train_fn=fakes.fake_study_train_fold, echo=None)
    assert report["status"] == "finished" and len(report["trials"]) == 4
    assert all(t["status"] == "complete" for t in report["trials"])
    runs = bench.store.runs()
    finished = runs[runs["status"] == "finished"]
    assert finished.groupby(["experiment_id", "fold"]).size().max() == 1  # no fold trained twice
    assert finished_before <= set(finished["id"])
    assert len(fakes.TRAINED) == 4 * 3 - 6  # only the folds that had not finished
    storage = optuna.storages.RDBStorage(f"sqlite:///{bench.home / 'studies.sqlite'}")
    assert len(storage.get_all_trials(study_id)) == 4


def test_bad_input_is_a_clear_error(bench, study_data):
    with pytest.raises(UserError, match="fold"):
        bench.create_study(head_definition(study_data, folds=[1, 7]))
    with pytest.raises(UserError, match="no study"):
        bench.study_report("study:99")
    with pytest.raises(UserError, match="grid sampler"):
        head_definition(study_data, sampler="grid")


def test_a_first_fold_failing_before_any_trial_finished_stops_the_study(bench, study_data):
    def broken(*args, **kwargs):
        raise OSError("weights file missing")

    study_id = bench.create_study(head_definition(study_data, n_trials=4))
    with pytest.raises(UserError, match="weights file missing"):
        bench.run_study(study_id, train_fn=broken, echo=None)
    report = bench.study_report(study_id)
    assert [t["status"] for t in report["trials"]] == ["failed"]
    assert "weights file missing" in report["trials"][0]["error"]


def test_the_executor_is_remembered_and_can_be_changed(bench, study_data):
    from glaucoma_core.training.executors import LocalExecutor, RayExecutor

    study_id = bench.create_study(head_definition(study_data, n_trials=2))
    study = load_study(bench, study_id)[0]
    assert isinstance(resolve_executor(study), LocalExecutor)  # never run: local
    ray = resolve_executor(study, "ray", "10.0.0.5:6379")
    assert isinstance(ray, RayExecutor) and ray.address == "10.0.0.5:6379"
    remember_executor(study, ray)  # what a run does once Ray is connected
    study = load_study(bench, study_id)[0]  # as `study resume` reads it
    assert study.user_attrs["executor"] == {"name": "ray", "address": "10.0.0.5:6379"}
    again = resolve_executor(study)
    assert isinstance(again, RayExecutor) and again.address == "10.0.0.5:6379"
    assert resolve_executor(study, "ray").address == "10.0.0.5:6379"  # --executor ray keeps the address
    assert isinstance(resolve_executor(study, "local"), LocalExecutor)
    with pytest.raises(UserError, match="unknown executor"):
        resolve_executor(study, "dask")


def test_an_unreachable_ray_cluster_is_a_clear_error_before_any_fold(bench, study_data):
    pytest.importorskip("ray")
    study_id = bench.create_study(head_definition(study_data, n_trials=2))
    with pytest.raises(UserError, match="nothing answers there"):
        bench.run_study(study_id, executor="ray", address="127.0.0.1:9", train_fn=fakes.fake_study_train_fold,
                        echo=None)
    study = load_study(bench, study_id)[0]
    assert bench.store.runs().empty and not study.trials  # nothing started
    assert "executor" not in study.user_attrs  # the wrong address is not remembered
