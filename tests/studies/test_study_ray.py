"""Studies on Ray (a local Ray instance): trials' folds are Ray tasks that write to the run store
themselves; every fold is trained once, the report is what the store says, and a study killed
half-way on Ray resumes (on Ray, remembered) without training a fold twice."""

from __future__ import annotations

import os

import pytest

from tests.studies import fakes
from tests.studies.conftest import head_definition

pytestmark = pytest.mark.slow


@pytest.fixture()
def ray_executor():
    pytest.importorskip("ray")
    import cloudpickle

    from glaucoma_core.training.executors import RayExecutor
    from tests.training import fakes as training_fakes

    # the fake trainer travels to the workers by value (the tests package is not on their path)
    for module in (fakes, training_fakes):
        cloudpickle.register_pickle_by_value(module)
    yield RayExecutor(num_cpus=2)
    for module in (fakes, training_fakes):
        cloudpickle.unregister_pickle_by_value(module)


def two_by_two(data, **changes):
    return head_definition(data, folds=[1, 2], n_trials=2, **changes)


def assert_report_is_the_store(bench, report):
    """Every trial's folds and validation mean in the report are those of its finished runs."""
    from glaucoma_core.studies.selection import SelectionRule

    rule = SelectionRule(report["rule"]["metric"])
    for trial in report["trials"]:
        runs = bench.store.runs(int(trial["experiment"].split(":")[1]))
        finished = runs[runs["status"] == "finished"]
        assert sorted(finished["fold"]) == trial["folds_trained"]
        scores = rule.fold_scores(bench.store.predictions(finished["id"].astype(int).tolist(), split="valid"))
        assert trial["valid"]["auc"]["mean"] == pytest.approx(rule.score(scores))


def finished_once(bench):
    runs = bench.store.runs()
    finished = runs[runs["status"] == "finished"]
    return finished, int(finished.groupby(["experiment_id", "fold"]).size().max())


def test_a_two_trial_two_fold_study_runs_on_ray(bench, study_data, ray_executor):
    study_id = bench.create_study(two_by_two(study_data))
    report = bench.run_study(study_id, executor=ray_executor, train_fn=fakes.fake_study_train_fold, echo=None)
    assert report["status"] == "finished" and [t["status"] for t in report["trials"]] == ["complete"] * 2
    runs = bench.store.runs()
    assert len(runs) == 4 and set(runs["status"]) == {"finished"}  # every fold trained once
    assert os.getpid() not in set(runs["pid"])  # by Ray workers, not this process
    assert_report_is_the_store(bench, report)
    assert report["selected"] == max(report["trials"], key=lambda t: t["valid"]["auc"]["mean"])["id"]


def test_a_study_killed_on_ray_resumes_on_ray_without_training_a_fold_twice(bench, study_data, ray_executor):
    from glaucoma_core.studies.runner import load_study
    from glaucoma_core.training.executors import RayExecutor

    class KilledAfterTwoFolds(RayExecutor):
        """The driver dies (as on Ctrl-C) once two folds of the first round are back."""

        def run(self, *args, **kwargs):
            for n, outcome in enumerate(super().run(*args, **kwargs), start=1):
                yield outcome
                if n == 2:
                    raise KeyboardInterrupt

    study_id = bench.create_study(head_definition(study_data, folds=[1, 2], n_trials=3))
    with pytest.raises(KeyboardInterrupt):
        bench.run_study(study_id, executor=KilledAfterTwoFolds(num_cpus=2), parallel_trials=2,
                        train_fn=fakes.fake_study_train_fold, echo=None)
    finished_before, _ = finished_once(bench)
    assert 2 <= len(finished_before) < 6
    study, _, _ = load_study(bench, study_id)
    assert study.user_attrs["executor"] == {"name": "ray", "address": None}

    # resume with no executor given: the remembered one (Ray, a local instance) trains the rest
    report = bench.run_study(study_id, train_fn=fakes.fake_study_train_fold, echo=None)
    assert report["status"] == "finished" and [t["status"] for t in report["trials"]] == ["complete"] * 3
    finished, most = finished_once(bench)
    assert most == 1 and len(finished) == 6  # no fold trained twice
    assert set(finished_before["id"]) <= set(finished["id"])
    assert os.getpid() not in set(finished["pid"])
    assert_report_is_the_store(bench, report)
