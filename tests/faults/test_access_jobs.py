"""Access in training jobs (issue 7): with GLAUCOMA_DATA_ROOT set, a job started on a dataset
inside it never reads a file whose symlink leads outside.

The app starts training as a detached CLI process that inherits the environment; the job scans
the dataset itself. The scan defaults to confinement in $GLAUCOMA_DATA_ROOT, so the escaping
file is a problem row (skipped and counted by the trainer), not a training image.
"""

from __future__ import annotations

from glaucoma_core.data.index import scan_dataset
from glaucoma_core.data.pipeline import fold_splits
from glaucoma_core.store import RunStore
from glaucoma_core.training.fold_run import execute_run
from tests.training.fakes import fake_train_fold, make_tiny_dataset, tiny_config


def _tree(tmp_path, monkeypatch):
    root = tmp_path / "root"
    data = make_tiny_dataset(root / "folds", folds=1, n_train=2, n_valid=1, n_test=1, size=8)
    outside = make_tiny_dataset(tmp_path / "outside", folds=1, n_train=1, n_valid=1, n_test=1, size=8, seed=1)
    secret = next((outside / "fold_1" / "train" / "abnormal").iterdir())
    link = data / "fold_1" / "train" / "abnormal" / "looks_local.png"
    link.symlink_to(secret)
    monkeypatch.setenv("GLAUCOMA_DATA_ROOT", str(root))
    return data, link


def test_scan_inside_the_data_root_is_confined_by_default(tmp_path, monkeypatch):
    data, link = _tree(tmp_path, monkeypatch)
    index = scan_dataset(data, use_cache=False).set_index("path")
    assert "outside the allowed data root" in index.loc[str(link), "problem"]
    assert (index.drop(index=str(link))["problem"] == "").all()
    splits = fold_splits(index.reset_index(), 1)
    assert str(link) in splits.skipped_paths and str(link) not in set(splits.train["path"])
    monkeypatch.delenv("GLAUCOMA_DATA_ROOT")
    assert scan_dataset(data, use_cache=False).set_index("path").loc[str(link), "problem"] == ""  # unconfined


def test_a_training_job_never_gets_the_escaping_file(tmp_path, monkeypatch):
    data, link = _tree(tmp_path, monkeypatch)
    store = RunStore(tmp_path / "home")
    seen = {}

    def train(config, index, fold, **kwargs):
        seen["index"] = index
        return fake_train_fold(config, index, fold, **kwargs)

    run = store.create_run(None, 1, tiny_config().to_dict(), str(data))
    outcome = execute_run(store, run, train_fn=train, echo=None)  # the job scans the dataset itself
    assert outcome["status"] == "finished", outcome
    row = seen["index"].set_index("path").loc[str(link)]
    assert "outside the allowed data root" in row["problem"]
