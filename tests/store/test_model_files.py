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


def test_a_model_saved_before_run_identities_still_loads(tmp_path):
    """A run recorded by schema 2 (no uuid, no run.json) keeps serving the model it recorded."""
    store = RunStore(tmp_path)
    run = store.create_run(None, 1, {}, None)
    store.save_model(run, tiny_model())
    (tmp_path / "runs" / str(run) / "run.json").unlink()
    store._conn().execute("UPDATE runs SET uuid = NULL WHERE id = ?", (run,))  # as migrated from v2
    assert store.load_model(run).count_params() == tiny_model().count_params()
    store._conn().execute("UPDATE runs SET model_path = NULL WHERE id = ?", (run,))
    with pytest.raises(ModelFileProblem, match="never recorded saving it"):
        store.load_model(run)  # a file the store never recorded is not served, even for old runs
