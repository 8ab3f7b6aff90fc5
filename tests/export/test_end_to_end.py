"""A really trained run, exported: the SavedModel gives the probabilities the workbench stored."""

from __future__ import annotations

import json

import numpy as np
import pytest

from glaucoma_core.cli import main


@pytest.mark.slow
def test_trained_run_savedmodel_matches_stored_and_predicted_probabilities(tmp_path, capsys):
    import tensorflow as tf

    from glaucoma_core.store import RunStore
    from tests.training.fakes import TINY_SETTINGS, make_tiny_dataset

    data = make_tiny_dataset(tmp_path / "data", folds=1)
    home = ["--home", str(tmp_path / "home")]
    settings = [arg for key, value in {**TINY_SETTINGS, "prepare_disc_crop": "off"}.items()
                for arg in ("--set", f"{key}={value}")]
    assert main([*home, "train", "--data", str(data), "--preset", "cpu-small", *settings, "--fold", "1"]) == 0
    store = RunStore(tmp_path / "home")
    run = int(store.runs()["id"].iloc[0])
    out = tmp_path / "model"
    assert main([*home, "export", "savedmodel", f"run:{run}", "--out", str(out), "--bootstrap", "20"]) == 0
    assert main([*home, "export", "tensorboard", f"run:{run}"]) == 0
    capsys.readouterr()

    stored = store.predictions([run], split="test").sort_values("path")
    files = list(stored["path"])
    model = tf.saved_model.load(str(out))
    served = model.serve_bytes(tf.constant([open(f, "rb").read() for f in files]))["probability"].numpy()
    np.testing.assert_allclose(served, stored["probability"], atol=1e-5, rtol=0)  # what training stored

    assert main([*home, "predict", "--run", str(run), *files, "--json"]) == 0
    predicted = [image["probability"] for image in json.loads(capsys.readouterr().out)["images"]]
    np.testing.assert_allclose(served, predicted, atol=1e-5, rtol=0)  # what `predict` says
    assert (store.run_dir(run) / "tensorboard" / "validation").is_dir()
