"""A wrong model is never served (issue 17 item 1).

The case of the issue: ``runs.sqlite`` emptied (0 bytes) while ``runs/1/model.keras`` stays;
before, ``runs`` said "no runs", the next run got id 1 again and ``predict --run 1`` answered
with the old run's model. And its neighbours: a store replaced by another store's file, a run
folder restored from the wrong backup, an identity file deleted or damaged, a folder that
belongs to another store when a model is saved.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys

import pytest

from glaucoma_core.cli import main
from glaucoma_core.paths import PROJECT_ROOT
from glaucoma_core.store import ModelFileProblem, RunStore, StoreError, StoreWarning
from tests.training.fakes import tiny_keras_model


def _store_with_model(home, runs: int = 1) -> tuple[RunStore, list[int]]:
    store = RunStore(home)
    ids = []
    for _ in range(runs):
        run = store.create_run(None, 1, {"backbone": "small_cnn"}, "/data")
        store.mark_running(run)
        store.save_model(run, tiny_keras_model())
        store.finish_run(run, "finished")
        ids.append(run)
    store.close()
    return store, ids


def _empty_the_store(home) -> None:
    for suffix in ("", "-wal", "-shm"):
        path = home / f"runs.sqlite{suffix}"
        if path.exists():
            path.unlink()
    (home / "runs.sqlite").write_bytes(b"")  # the case: 0 bytes


def test_an_emptied_store_says_so_never_reuses_the_id_and_never_serves_the_old_model(tmp_path):
    home = tmp_path / "home"
    _, (old,) = _store_with_model(home)
    assert old == 1
    _empty_the_store(home)
    with pytest.warns(StoreWarning, match=r"1 run folder\(s\) \(1\) hold files that .* has no record of"):
        store = RunStore(home)
    assert store.orphaned_run_dirs() == [1] and store.warnings
    new = store.create_run(None, 1, {"backbone": "small_cnn"}, "/data")
    assert new != old and new == 2  # above every folder on disk
    with pytest.raises(ModelFileProblem, match="no saved model"):
        store.load_model(new)
    store.mark_running(new)
    store.save_model(new, tiny_keras_model())
    assert (home / "runs" / "1" / "model.keras").exists()  # the old folder is left alone
    assert store.load_model(new) is not None


def test_runs_command_on_an_emptied_store_warns_instead_of_a_silent_no_runs(tmp_path):
    home = tmp_path / "home"
    _store_with_model(home)
    _empty_the_store(home)
    out = subprocess.run([sys.executable, "-m", "glaucoma_core", "--home", str(home), "runs"],
                         cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
    assert "Traceback" not in out.stderr
    assert "run folder(s) (1) hold files that" in out.stderr + out.stdout, (out.stdout, out.stderr)


@pytest.mark.parametrize("how", ["other store's folder", "identity deleted", "identity damaged"])
def test_a_model_whose_identity_is_not_this_runs_is_refused(tmp_path, how):
    mine, (run,) = _store_with_model(tmp_path / "mine")
    _store_with_model(tmp_path / "other")  # another store: also run 1, another model
    folder = tmp_path / "mine" / "runs" / str(run)
    if how == "other store's folder":  # restored from the wrong backup
        shutil.rmtree(folder)
        shutil.copytree(tmp_path / "other" / "runs" / str(run), folder)
        reason = "belongs to run 1 of store"
    elif how == "identity deleted":
        (folder / "run.json").unlink()
        reason = "no run identity file"
    else:
        (folder / "run.json").write_text("{not json")
        reason = "damaged run identity file"
    store = RunStore(tmp_path / "mine")
    with pytest.raises(ModelFileProblem, match=reason):
        store.load_model(run)
    with pytest.raises(ModelFileProblem, match=reason):
        store.verified_model_path(run)  # what a download serves


def test_a_replaced_store_file_is_not_taken_for_the_old_runs(tmp_path):
    """runs.sqlite swapped for another store's file: the folders' identities name the old store."""
    _store_with_model(tmp_path / "a", runs=2)
    _store_with_model(tmp_path / "b", runs=1)
    for suffix in ("", "-wal", "-shm"):
        (tmp_path / "a" / f"runs.sqlite{suffix}").unlink(missing_ok=True)
    shutil.copy(tmp_path / "b" / "runs.sqlite", tmp_path / "a" / "runs.sqlite")
    with pytest.warns(StoreWarning):
        store = RunStore(tmp_path / "a")
    assert store.orphaned_run_dirs() == [1, 2]  # 1 has a row, but its folder is the other store's
    with pytest.raises(ModelFileProblem, match="belongs to run 1 of store"):
        store.load_model(1)
    assert store.create_run(None, 1, {}, None) == 3


def test_saving_never_writes_into_another_runs_folder(tmp_path):
    _store_with_model(tmp_path / "other")
    store = RunStore(tmp_path / "mine")
    run = store.create_run(None, 1, {}, None)
    shutil.copytree(tmp_path / "other" / "runs" / "1", tmp_path / "mine" / "runs" / str(run))
    before = (tmp_path / "mine" / "runs" / str(run) / "model.keras").read_bytes()
    with pytest.raises(StoreError, match="belongs to run 1 of store"):
        store.save_model(run, tiny_keras_model())
    assert (tmp_path / "mine" / "runs" / str(run) / "model.keras").read_bytes() == before


def test_identity_file_names_store_and_run(tmp_path):
    store, (run,) = _store_with_model(tmp_path)
    identity = json.loads((tmp_path / "runs" / str(run) / "run.json").read_text())
    info = RunStore(tmp_path).run(run)
    assert identity == {"store": store.store_uuid, "run_id": run, "run_uuid": info["uuid"],
                        "created_at": info["created_at"],
                        "model_sha256": hashlib.sha256((tmp_path / info["model_path"]).read_bytes()).hexdigest()}


def test_a_model_file_copied_over_from_another_run_is_refused(tmp_path):
    """Same store, right folder, right identity, but someone copied run 2's model.keras over run 1's."""
    import keras

    store = RunStore(tmp_path)
    first, second = (store.create_run(None, 1, {}, None) for _ in range(2))
    for run, units in ((first, 2), (second, 2)):
        inputs = keras.Input((4,))
        store.save_model(run, keras.Model(inputs, keras.layers.Dense(units, name="probabilities")(inputs)))
    shutil.copy(store.model_path(second), store.model_path(first))
    with pytest.raises(ModelFileProblem, match="not the one saved for run 1"):
        store.load_model(first)
    with pytest.raises(ModelFileProblem, match="not the one saved for run 1"):
        store.verified_model_path(first)
    assert store.load_model(second) is not None


@pytest.mark.slow
def test_predict_on_the_reused_id_case_refuses_with_a_message(tmp_path, capsys):
    """The issue's steps through the CLI: empty the store, record a run, predict with it."""
    from PIL import Image

    home = tmp_path / "home"
    _store_with_model(home)
    _empty_the_store(home)
    with pytest.warns(StoreWarning):
        store = RunStore(home)
    new = store.create_run(None, 1, {}, None)
    image = tmp_path / "x.png"
    Image.new("RGB", (8, 8)).save(image)
    assert main(["--home", str(home), "predict", "--run", "1", str(image)]) == 2
    assert "no run 1" in capsys.readouterr().err
    assert main(["--home", str(home), "predict", "--run", str(new), str(image)]) == 2
    assert "no saved model" in capsys.readouterr().err
