"""Run management (issue 13): names, tags, notes, archive, delete with model files, the catalog."""

from __future__ import annotations

import pytest

from glaucoma_core.errors import UserError
from glaucoma_core.workbench import Workbench


@pytest.fixture
def bench(tmp_path):
    bench = Workbench(tmp_path / "home")
    data = tmp_path / "data"
    data.mkdir()
    config = {"backbone": "small_cnn", "learning_rate": 0.001, "epochs": 3}
    e = bench.store.create_experiment("base", config, str(data), None, [1, 2])
    runs = [bench.store.create_run(e, fold, config, str(data)) for fold in (1, 2)]
    lone = bench.store.create_run(None, None, {**config, "learning_rate": 0.01}, str(tmp_path / "other"))
    for run_id in (*runs, lone):
        bench.store.finish_run(run_id, "finished")
        folder = bench.store.run_dir(run_id)
        folder.mkdir(parents=True)
        (folder / "model.keras").write_bytes(b"model")
    return bench, e, runs, lone, data


def test_rename_tags_notes_read_back(bench):
    bench, e, runs, lone, _ = bench
    bench.annotate(f"run:{lone}", name="lr sweep", tags="baseline, lr, lr", notes="try 1e-2")
    bench.annotate(f"exp:{e}", name="renamed", tags=["cv"])
    notes = bench.store.annotations("run").set_index("id")
    assert notes.loc[lone, "name"] == "lr sweep" and notes.loc[lone, "tags"] == ["baseline", "lr"]
    assert notes.loc[lone, "notes"] == "try 1e-2"
    assert bench.store.experiment(e)["name"] == "renamed"
    with pytest.raises(UserError, match="needs a name"):
        bench.annotate(f"exp:{e}", name="  ")
    with pytest.raises(UserError):
        bench.annotate("run:999", name="x")


def test_catalog_scopes_to_the_dataset_and_shows_what_differs(bench):
    bench, e, runs, lone, data = bench
    everything = bench.catalog()["runs"]
    assert set(everything["id"]) == {*runs, lone}
    assert "config.learning_rate" in everything.columns and "config.epochs" not in everything.columns
    scoped = bench.catalog(data)
    assert set(scoped["runs"]["id"]) == set(runs) and list(scoped["experiments"]["id"]) == [e]
    assert "config.learning_rate" not in scoped["runs"].columns  # same within the dataset
    assert scoped["experiments"]["preset"].iloc[0]


def test_archive_hides_and_delete_removes_rows_and_model_files(bench):
    bench, e, runs, lone, _ = bench
    bench.archive(f"run:{lone}")
    assert lone not in set(bench.catalog()["runs"]["id"])
    assert lone in set(bench.catalog(archived=True)["runs"]["id"])
    bench.archive(f"run:{lone}", False)
    assert lone in set(bench.catalog()["runs"]["id"])
    folders = [bench.store.run_dir(r) for r in runs]
    result = bench.delete(f"exp:{e}")
    assert sorted(result["runs"]) == sorted(runs)
    assert not any(f.exists() for f in folders)
    assert bench.store.experiments().empty and set(bench.store.runs()["id"]) == {lone}
    assert bench.store.model_path(lone).is_file()


def test_delete_refuses_an_active_run(bench):
    bench, e, runs, lone, data = bench
    queued = bench.store.create_run(None, None, {"backbone": "small_cnn"}, str(data))
    with pytest.raises(UserError, match="still queued or running"):
        bench.delete(f"run:{queued}")
    assert queued in set(bench.store.runs()["id"])
