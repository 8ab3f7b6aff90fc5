"""Model files: atomic save, safe load, clear problems."""

from __future__ import annotations

import pytest

from glaucoma_core.store import ModelFileProblem, RunStore
from glaucoma_core.store.model_files import load_model_safe, save_model_atomic

keras = pytest.importorskip("keras")


def tiny_model():
    inputs = keras.Input((4,))
    outputs = keras.layers.Dense(2, activation="softmax", name="probabilities")(inputs)
    return keras.Model(inputs, outputs)


def test_save_and_load_round_trip(tmp_path):
    store = RunStore(tmp_path)
    run = store.create_run(None, 1, {}, None)
    model = tiny_model()
    path = store.save_model(run, model)
    assert path == store.model_path(run) == tmp_path / "runs" / str(run) / "model.keras"
    assert store.run(run)["model_path"] == f"runs/{run}/model.keras"
    assert sorted(p.name for p in path.parent.iterdir()) == ["model.keras", "run.json"]  # no temporary left
    loaded = store.load_model(run)
    assert loaded.get_layer("probabilities").get_weights()[0].tolist() == model.get_layer(
        "probabilities").get_weights()[0].tolist()


def test_overwrite_is_atomic_replacement(tmp_path):
    path = tmp_path / "model.keras"
    save_model_atomic(tiny_model(), path)
    second = tiny_model()
    save_model_atomic(second, path)
    assert load_model_safe(path).count_params() == second.count_params()


def test_run_without_model_says_so(tmp_path):
    store = RunStore(tmp_path)
    run = store.create_run(None, 1, {}, None)
    store.finish_run(run, "failed", "boom")
    with pytest.raises(ModelFileProblem, match="no saved model.*boom"):
        store.load_model(run)


def test_missing_corrupt_and_empty_files(tmp_path):
    with pytest.raises(ModelFileProblem) as info:
        load_model_safe(tmp_path / "absent.keras")
    assert info.value.reason == "model file is missing"
    empty = tmp_path / "empty.keras"
    empty.write_bytes(b"")
    with pytest.raises(ModelFileProblem, match="empty"):
        load_model_safe(empty)
    garbage = tmp_path / "garbage.keras"
    garbage.write_bytes(b"\x00not a zip" * 50)
    with pytest.raises(ModelFileProblem, match="corrupt"):
        load_model_safe(garbage)


def test_lambda_layer_is_refused(tmp_path):
    inputs = keras.Input((4,))
    outputs = keras.layers.Lambda(lambda x: x * 2.0)(inputs)
    path = tmp_path / "lambda.keras"
    keras.Model(inputs, outputs).save(path)
    with pytest.raises(ModelFileProblem, match="unsafe") as info:
        load_model_safe(path)
    assert "Lambda" in info.value.reason
