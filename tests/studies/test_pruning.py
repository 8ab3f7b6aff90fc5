"""Pruning across folds is gentle and fair: no pruning before the warm-up folds or before enough
trials completed, and a trial's running mean is compared with the others' over the same folds."""

from __future__ import annotations

import math

import optuna
import pytest

from glaucoma_core.errors import UserError
from glaucoma_core.studies.pruning import FoldMeanPruner, default_warmup_folds
from glaucoma_core.studies.runner import load_study
from tests.studies import fakes
from tests.studies.conftest import head_definition

LATE = 0.1  # the head_dropout of the scripted trial; the others score fakes.DEFAULT_AUC (0.75) on every fold


@pytest.fixture(autouse=True)
def script():
    fakes.SCRIPT.clear()
    yield fakes.SCRIPT
    fakes.SCRIPT.clear()


def run_grid(bench, data, dropouts, **changes):
    space = {"head_dropout": list(dropouts), "learning_rate": [3e-3]}
    definition = head_definition(data, space=space, sampler="grid", pruner="median", n_trials=len(dropouts),
                                 **changes)
    study_id = bench.create_study(definition)
    report = bench.run_study(study_id, train_fn=fakes.scripted_train_fold, echo=None)
    return report, {t["params"]["head_dropout"]: t for t in report["trials"]}


def test_warm_up_defaults_to_half_the_folds_rounded_up():
    assert [default_warmup_folds(k) for k in (1, 2, 3, 4, 5, 10)] == [1, 1, 2, 2, 3, 5]


def test_a_trial_low_on_its_first_fold_but_high_later_is_not_pruned_after_fold_one(bench, study_data, script):
    script.update({(LATE, 1): 0.5, (LATE, 2): 1.0, (LATE, 3): 1.0})
    report, by_dropout = run_grid(bench, study_data, [0.2, 0.25, 0.3, LATE])
    late = by_dropout[LATE]
    assert late["status"] == "complete" and late["folds_trained"] == [1, 2, 3]
    assert report["selected"] == late["id"]  # it was the best configuration all along
    # the intermediate value at step s is the mean of the first s + 1 folds' validation AUCs
    study, _, _ = load_study(bench, report["study"])
    frozen = study.trials[late["id"]]
    assert frozen.intermediate_values == pytest.approx({0: 0.5, 1: 0.75, 2: 2.5 / 3})
    rule = report_rule(report)
    for t in study.trials:  # and so for every trial, from what the run store holds
        runs = bench.store.runs(int(t.user_attrs["experiment_id"]))
        finished = runs[runs["status"] == "finished"].sort_values("fold")
        scores = [rule.fold_scores(bench.store.predictions([int(r)], split="valid"))[int(f)]
                  for r, f in zip(finished["id"], finished["fold"], strict=True)]
        assert t.intermediate_values == pytest.approx(
            {s: sum(scores[: s + 1]) / (s + 1) for s in range(len(scores))})


def report_rule(report):
    from glaucoma_core.studies.selection import SelectionRule

    return SelectionRule(report["rule"]["metric"])


def test_the_same_trial_is_pruned_after_fold_one_with_a_one_fold_warm_up(bench, study_data, script):
    script.update({(LATE, 1): 0.5, (LATE, 2): 1.0, (LATE, 3): 1.0})
    report, by_dropout = run_grid(bench, study_data, [0.2, 0.25, 0.3, LATE], prune_warmup_folds=1)
    assert by_dropout[LATE]["status"] == "pruned" and by_dropout[LATE]["folds_trained"] == [1]
    assert report["selected"] != by_dropout[LATE]["id"]


def test_running_means_are_compared_over_the_same_folds_not_the_best_step(bench, study_data, script):
    # 1.0 then 0.25: the mean over two folds (0.625) is below the others' (0.75), although the
    # first fold alone was above (Optuna's MedianPruner compares that best step and keeps it)
    script.update({(LATE, 1): 1.0, (LATE, 2): 0.25})
    report, by_dropout = run_grid(bench, study_data, [0.2, 0.25, 0.3, LATE])
    late = by_dropout[LATE]
    assert late["status"] == "pruned" and late["folds_trained"] == [1, 2]
    study, _, _ = load_study(bench, report["study"])
    assert study.trials[late["id"]].user_attrs["pruned_after_folds"] == 2


@pytest.mark.parametrize(("min_trials", "pruned"), [(3, False), (2, True)])
def test_nothing_is_pruned_before_enough_trials_completed(bench, study_data, script, min_trials, pruned):
    script.update({(LATE, f): 0.25 for f in (1, 2, 3)})
    _, by_dropout = run_grid(bench, study_data, [0.2, 0.25, LATE], prune_min_trials=min_trials)
    assert (by_dropout[LATE]["status"] == "pruned") is pruned
    assert len(by_dropout[LATE]["folds_trained"]) == (2 if pruned else 3)


def test_the_pruner_alone_compares_the_last_step_with_the_completed_median():
    study = optuna.create_study(direction="maximize", pruner=FoldMeanPruner(warmup_folds=2, min_trials=2))
    for values in ([0.8, 0.8, 0.8], [0.7, 0.7, 0.7], [0.9, 0.9, 0.9]):
        trial = study.ask()
        for step, value in enumerate(values):
            trial.report(value, step)
        study.tell(trial, values[-1])
    trial = study.ask()
    trial.report(0.1, 0)
    assert not trial.should_prune()  # inside the warm-up
    trial.report(0.79, 1)
    assert trial.should_prune()  # 0.79 < median 0.8 at step 1
    trial = study.ask()
    trial.report(0.1, 0)
    trial.report(0.8, 1)
    assert not trial.should_prune()  # equal to the median is not below it
    trial.report(math.nan, 2)
    assert not trial.should_prune()


def test_bad_pruning_settings_are_clear_errors(study_data):
    with pytest.raises(UserError, match="warm-up"):
        head_definition(study_data, prune_warmup_folds=0)
    with pytest.raises(UserError, match="min trials"):
        head_definition(study_data, prune_min_trials=0)
