"""Misuse of the evaluation commands: broken predictions, models and images give exit 2 and a reason."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from glaucoma_core.cli import main
from glaucoma_core.store import RunStore


def _run_with(store, rows, fold=1, experiment=None):
    run = store.create_run(experiment, fold, {}, "/data")
    store.save_predictions(run, pd.DataFrame(rows))
    store.finish_run(run, "finished")
    return run


def _rows(probabilities, labels, split="test"):
    return [{"split": split, "path": f"/d/{split}/{i}.png", "sha256": f"{split}{i}", "label": y, "probability": p}
            for i, (p, y) in enumerate(zip(probabilities, labels, strict=True))]


def test_corrupt_probability_in_store_is_reported(tmp_path, capsys):
    import sqlite3

    store = RunStore(tmp_path)
    run = _run_with(store, _rows([0.2, 0.5, 0.9], [0, 1, 1]))
    with sqlite3.connect(store.path) as conn:  # a damaged row, as an outside tool could leave it
        conn.execute("UPDATE predictions SET probability = 1.7 WHERE sha256 = 'test1'")
    assert main(["--home", str(tmp_path), "evaluate", str(run)]) == 2
    assert "[0, 1]" in capsys.readouterr().err


def test_one_class_test_set_gives_nan_auc_not_a_crash(tmp_path, capsys):
    store = RunStore(tmp_path)
    run = _run_with(store, _rows([0.2, 0.4, 0.7], [0, 0, 0]))
    assert main(["--home", str(tmp_path), "evaluate", str(run), "--bootstrap", "20"]) == 0
    out = capsys.readouterr().out
    assert "only one class" in out and "n/a" in out


def test_target_threshold_without_validation_rows(tmp_path, capsys):
    store = RunStore(tmp_path)
    run = _run_with(store, _rows([0.2, 0.8], [0, 1]))
    assert main(["--home", str(tmp_path), "evaluate", str(run), "--target-sensitivity", "0.9"]) == 2
    assert "no validation predictions" in capsys.readouterr().err


def test_validation_without_glaucoma_in_one_fold(tmp_path, capsys):
    store = RunStore(tmp_path)
    exp = store.create_experiment("x", {}, "/data", "fp", [1, 2])
    for fold, valid_labels in ((1, [0, 1]), (2, [0, 0])):
        _run_with(store, _rows([0.3, 0.6], valid_labels, "valid") + _rows([0.2, 0.9], [0, 1]), fold, exp)
    assert main(["--home", str(tmp_path), "evaluate", f"exp:{exp}", "--target-sensitivity", "0.9"]) == 2
    assert "fold 2" in capsys.readouterr().err


def test_gradcam_on_a_model_without_logits_or_conv(tmp_path, capsys):
    import keras

    store = RunStore(tmp_path)
    inputs = keras.Input((8, 8, 3))
    flat = keras.layers.Flatten()(inputs)
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax", name="probabilities")(flat))
    run = store.create_run(None, 1, {}, None)
    store.save_model(run, model)
    image = tmp_path / "eye.png"
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(image)
    assert main(["--home", str(tmp_path), "gradcam", "--run", str(run), str(image), "--out", str(tmp_path / "o.png")]) == 2
    assert "logits" in capsys.readouterr().err
    assert not (tmp_path / "o.png").exists()


@pytest.mark.parametrize("name,content,message", [
    ("empty.png", b"", "empty"),
    ("missing.png", None, "missing.png"),
])
def test_gradcam_bad_image_files(tmp_path, capsys, name, content, message):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    assert main(["--home", str(tmp_path), "gradcam", "--run", "1", str(path), "--out", str(tmp_path / "o.png")]) == 2
    assert message in capsys.readouterr().err.lower()


def test_gradcam_refuses_non_png_output(tmp_path, capsys):
    assert main(["--home", str(tmp_path), "gradcam", "--run", "1", "x.png", "--out", str(tmp_path / "o.jpg")]) == 2
    assert ".png" in capsys.readouterr().err
