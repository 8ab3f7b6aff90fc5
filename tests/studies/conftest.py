from __future__ import annotations

import pytest

from tests.training.fakes import make_tiny_dataset


@pytest.fixture()
def study_data(tmp_path):
    """Three folds, 8 valid and 8 test images per class and fold."""
    return make_tiny_dataset(tmp_path / "data", folds=3, n_train=4, n_valid=8, n_test=8, size=16)


@pytest.fixture()
def bench(tmp_path):
    from glaucoma_core.workbench import Workbench

    return Workbench(tmp_path / "home")


def head_definition(data, **changes):
    """A small head study over dropout and learning rate (the fake trainer's two knobs)."""
    from glaucoma_core.studies.presets import study_from_preset

    fields = {"space": {"head_dropout": {"low": 0.0, "high": 0.5}, "learning_rate": {"low": 1e-4, "high": 1e-2,
                                                                                   "log": True}},
              "n_trials": 5, "sampler": "random", "pruner": "none", "data_root": str(data)}
    fields.update(changes)
    return study_from_preset("cpu-transfer-head", overrides={"weights": "none", "trainable": "all", "batch_size": 4}, **fields)
