"""The study's executor path (what ``--executor ray`` runs) with an in-process executor that
records each round it is sent: rounds as documented, pruning between rounds, screening, a kill
half-way resumed with no fold trained twice. Ray itself is tested in test_study_ray.py."""

from __future__ import annotations

import contextlib

import pytest

from glaucoma_core.training.executors import LocalExecutor
from tests.studies import fakes
from tests.studies.conftest import head_definition


class RecordingExecutor(LocalExecutor):
    """Trains what it is sent in this process, like the local executor, but is not 'local' (so
    the study takes the executor path) and records the runs of each call."""

    name = "recording"

    def __init__(self, die_after: int | None = None):
        self.calls: list[list[int]] = []
        self.sessions = 0
        self.die_after = die_after  # raise KeyboardInterrupt after this many outcomes in all
        self.outcomes = 0

    @contextlib.contextmanager
    def session(self):
        self.sessions += 1
        yield self

    def run(self, store, run_ids, **kwargs):
        run_ids = list(run_ids)
        self.calls.append(run_ids)
        for outcome in super().run(store, run_ids, **kwargs):
            self.outcomes += 1
            yield outcome
            if self.die_after is not None and self.outcomes >= self.die_after:
                raise KeyboardInterrupt


@pytest.fixture(autouse=True)
def script():
    fakes.SCRIPT.clear()
    yield fakes.SCRIPT
    fakes.SCRIPT.clear()


def test_rounds_send_the_warm_up_folds_together_then_one_fold_per_trial(bench, study_data):
    executor = RecordingExecutor()
    study_id = bench.create_study(head_definition(study_data, n_trials=6, pruner="median"))
    report = bench.run_study(study_id, executor=executor, parallel_trials=4, train_fn=fakes.scripted_train_fold,
                             echo=None)
    assert report["status"] == "finished" and executor.sessions == 1
    # batch 1: 4 trials x 2 warm-up folds, then their third folds; batch 2: 2 trials likewise
    assert [len(c) for c in executor.calls] == [8, 4, 4, 2]
    runs = bench.store.runs()
    assert len(runs) == 18 and set(runs["status"]) == {"finished"}  # equal scores: nothing below the median
    assert runs.groupby(["experiment_id", "fold"]).size().max() == 1


def test_pruning_between_rounds_and_the_warm_up(bench, study_data, script):
    late, low = 0.1, 0.05
    script.update({(late, 1): 0.5, (late, 2): 1.0, (late, 3): 1.0, (low, 1): 0.25, (low, 2): 0.25})
    space = {"head_dropout": [0.2, 0.25, 0.3, late, low], "learning_rate": [3e-3]}
    executor = RecordingExecutor()
    study_id = bench.create_study(head_definition(study_data, space=space, sampler="grid", pruner="median",
                                                  n_trials=5))
    report = bench.run_study(study_id, executor=executor, parallel_trials=3, train_fn=fakes.scripted_train_fold,
                             echo=None)
    by = {t["params"]["head_dropout"]: t for t in report["trials"]}
    assert by[late]["status"] == "complete" and report["selected"] == by[late]["id"]  # not pruned after fold 1
    assert by[low]["status"] == "pruned" and by[low]["folds_trained"] == [1, 2]  # pruned after the warm-up
    assert [len(c) for c in executor.calls] == [6, 3, 4, 1]  # the pruned trial's third fold was never sent


def test_screening_on_the_executor_path(bench, study_data):
    executor = RecordingExecutor()
    study_id = bench.create_study(head_definition(study_data, screen_folds=1, top=2, n_trials=5))
    report = bench.run_study(study_id, executor=executor, parallel_trials=5, train_fn=fakes.fake_study_train_fold,
                             echo=None)
    statuses = sorted(t["status"] for t in report["trials"])
    assert statuses == ["complete"] * 2 + ["screened"] * 3
    assert [len(c) for c in executor.calls] == [5, 4]  # every trial's fold 1, then the top two's folds 2-3
    assert report["selected"] in {t["id"] for t in report["trials"] if t["status"] == "complete"}


def test_a_study_killed_mid_round_resumes_without_training_a_fold_twice(bench, study_data):
    study_id = bench.create_study(head_definition(study_data, n_trials=4))
    with pytest.raises(KeyboardInterrupt):
        bench.run_study(study_id, executor=RecordingExecutor(die_after=5), parallel_trials=2,
                        train_fn=fakes.fake_study_train_fold, echo=None)
    finished_before = set(bench.store.runs()[lambda r: r["status"] == "finished"]["id"])
    assert len(finished_before) == 5
    fakes.TRAINED.clear()
    again = RecordingExecutor()
    report = bench.run_study(study_id, executor=again, train_fn=fakes.fake_study_train_fold, echo=None)
    assert report["status"] == "finished" and [t["status"] for t in report["trials"]] == ["complete"] * 4
    runs = bench.store.runs()
    finished = runs[runs["status"] == "finished"]
    assert len(finished) == 12 and finished.groupby(["experiment_id", "fold"]).size().max() == 1
    assert finished_before <= set(finished["id"])
    assert len(fakes.TRAINED) == 12 - 5  # only the folds that had not finished
    assert sum(len(c) for c in again.calls) == 12 - 5
