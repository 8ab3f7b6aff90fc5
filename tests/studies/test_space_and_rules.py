"""Search space, selection rule and Holm correction: plain functions, no training."""

from __future__ import annotations

import math

import numpy as np
import optuna
import pandas as pd
import pytest

from glaucoma_core.errors import UserError
from glaucoma_core.studies.holm import holm_adjust
from glaucoma_core.studies.selection import SelectionRule, choose
from glaucoma_core.studies.space import SearchSpace


def test_space_ranges_lists_and_log_draws():
    space = SearchSpace({"learning_rate": {"low": 1e-4, "high": 1e-2, "log": True},
                         "head_dense_units": [0, 64, 128], "epochs": {"low": 2, "high": 5, "int": True}})
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    draws = []
    for _ in range(200):
        trial = study.ask()
        draws.append(space.suggest(trial))
        study.tell(trial, 0.0)
    rates = np.array([d["learning_rate"] for d in draws])
    assert rates.min() >= 1e-4 and rates.max() <= 1e-2
    # log-uniform: about half the draws below the geometric middle 1e-3 (uniform would give ~9 %)
    assert 0.35 < np.mean(rates < 1e-3) < 0.65
    assert {d["head_dense_units"] for d in draws} == {0, 64, 128}
    assert all(isinstance(d["epochs"], int) and 2 <= d["epochs"] <= 5 for d in draws)
    assert not space.is_grid


def test_grid_space_and_its_size():
    space = SearchSpace({"head_dense_units": [0, 64], "batch_size": [16, 32, 64]})
    assert space.is_grid and space.grid_size() == 6 and len(space.grid_points()) == 6


@pytest.mark.parametrize("spec, words", [
    ({"no_such_field": [1]}, "not a configuration field"),
    ({"learning_rate": {"low": 0, "high": 1e-2, "log": True}}, "low > 0"),
    ({"learning_rate": {"low": 1e-2, "high": 1e-4}}, "low <= high"),
    ({"learning_rate": []}, "at least one value"),
    ({"learning_rate": {"low": 1e-4}}, "numbers low and high"),
    ({}, "at least one field"),
])
def test_bad_spaces_are_named(spec, words):
    with pytest.raises(UserError, match=words):
        SearchSpace(spec)


def test_space_config_names_a_value_the_config_refuses():
    from glaucoma_core.config import get_preset

    with pytest.raises(UserError, match="head_dropout"):
        SearchSpace({"head_dropout": [2.0]}).config(get_preset("cpu-transfer"), {"head_dropout": 2.0})


def test_holm_matches_the_step_down_definition():
    assert holm_adjust([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    adjusted = holm_adjust([0.5, math.nan, 0.001])
    assert adjusted[0] == pytest.approx(0.5) and math.isnan(adjusted[1]) and adjusted[2] == pytest.approx(0.002)
    assert holm_adjust([0.9, 0.8]) == pytest.approx([1.0, 1.0])  # 2 x 0.8 capped at 1
    assert holm_adjust([0.2, 0.3]) == pytest.approx([0.4, 0.4])


def test_rule_reads_validation_rows_only():
    rng = np.random.default_rng(0)
    rows = []
    for fold in (1, 2):
        for split in ("valid", "test"):
            labels = np.r_[np.zeros(10), np.ones(10)].astype(int)
            probs = np.clip(labels * 0.4 + rng.uniform(0, 0.6, 20), 0, 1)
            rows.append(pd.DataFrame({"run_id": fold, "fold": fold, "split": split, "path": [f"{split}{i}"
                                      for i in range(20)], "sha256": [f"{fold}{split}{i}" for i in range(20)],
                                      "label": labels, "probability": probs}))
    frame = pd.concat(rows, ignore_index=True)
    rule = SelectionRule("auc")
    before = rule.fold_scores(frame)
    test = frame["split"] == "test"
    frame.loc[test, "label"] = 1 - frame.loc[test, "label"]  # flip every test label
    frame.loc[test, "probability"] = rng.uniform(0, 1, int(test.sum()))
    assert rule.fold_scores(frame) == before
    assert choose({0: 0.7, 1: 0.9, 2: 0.9, 3: math.nan}) == 1
    with pytest.raises(UserError):
        SelectionRule("test_auc")
