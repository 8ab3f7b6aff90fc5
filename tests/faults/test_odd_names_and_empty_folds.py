"""File names that are not UTF-8, and fold folders without images (issue 17 items 6 and 8).

Before, one Latin-1 file name (bytes that are not valid UTF-8, as old cameras and Windows
shares write them) made ``scan`` crash with UnicodeEncodeError and ``train`` refuse the whole
dataset; now the file is a problem row under an escaped name (``caf\\xe9.png``) and the rest is
used, by the scan, the scan cache, the scan command, ``folds`` and training. The same for a
Latin-1 sub-folder and class folder; a dataset root whose own path is not UTF-8 is a clear
error. Fold folders holding no image are named as such ("no images found in ...") instead of
the layout being blamed.
"""

from __future__ import annotations

import json
import os

import pytest

from glaucoma_core.cli import main
from glaucoma_core.data.folds import make_folds
from glaucoma_core.data.index import DatasetLayoutError, missing_images, scan_dataset, usable
from glaucoma_core.store import RunStore
from glaucoma_core.training.fold_run import execute_run
from tests.data import synthetic
from tests.training.fakes import fake_train_fold, make_tiny_dataset

LATIN1 = "caf\xe9".encode("latin-1")  # b"caf\xe9": not valid UTF-8


def _flat(root, n: int = 4):
    for label, offset in (("normal", 0), ("abnormal", 100)):
        (root / label).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            (root / label / f"{label}_{i}.png").write_bytes(synthetic.image_bytes(offset + i))
    return root


@pytest.fixture
def latin1_dataset(tmp_path):
    root = _flat(tmp_path / "flat")
    base = os.fsencode(root)
    with open(base + b"/normal/" + LATIN1 + b".png", "wb") as handle:  # a Latin-1 file name
        handle.write(synthetic.image_bytes(50))
    os.makedirs(base + b"/abnormal/" + LATIN1)  # a Latin-1 sub-folder of a class folder
    with open(base + b"/abnormal/" + LATIN1 + b"/inner.png", "wb") as handle:
        handle.write(synthetic.image_bytes(51))
    os.makedirs(base + b"/" + LATIN1)  # a Latin-1 folder beside the class folders: ignored
    return root


def test_scan_lists_undecodable_names_as_problems_and_uses_the_rest(latin1_dataset, tmp_path):
    for use_cache in (True, True, False):  # first scan, rescan from the cache, no cache
        index = scan_dataset(latin1_dataset, home=tmp_path / "home", use_cache=use_cache)
        bad = index[index["problem"] != ""].set_index("relpath")
        assert sorted(bad.index) == ["abnormal/caf\\xe9/inner.png", "normal/caf\\xe9.png"]
        assert bad["problem"].str.contains("not valid UTF-8").all()
        assert len(usable(index)) == 8
        assert "caf\\xe9" in index.attrs["ignored"]
        index["path"].map(lambda p: p.encode("utf-8"))  # every text cell is valid UTF-8 (pandas, SQLite, JSON)


def test_the_scan_command_prints_them(latin1_dataset, tmp_path, capsys):
    assert main(["--home", str(tmp_path / "home"), "scan", str(latin1_dataset)]) in (0, 1)
    out = capsys.readouterr().out
    assert "normal/caf\\xe9.png" in out and "not valid UTF-8" in out
    code = main(["--home", str(tmp_path / "home"), "scan", str(latin1_dataset), "--json"])
    assert code in (0, 1)
    json.loads(capsys.readouterr().out)  # valid JSON


def test_folds_are_made_from_the_rest(latin1_dataset, tmp_path):
    result = make_folds(latin1_dataset, tmp_path / "folds", k=2, home=tmp_path / "home")
    written = result[result["problem"] == ""]
    assert len(written) == 2 * 8  # every good image, in both folds
    assert set(result.loc[result["problem"] != "", "source"].map(os.path.basename)) == {"caf\\xe9.png", "inner.png"}
    assert len(usable(scan_dataset(tmp_path / "folds", use_cache=False))) == 16


def test_a_fold_with_a_latin1_file_trains_on_the_others(tmp_path):
    data = make_tiny_dataset(tmp_path / "data", folds=1, n_train=3, n_valid=2, n_test=2, size=16)
    with open(os.fsencode(data / "fold_1" / "test" / "normal") + b"/" + LATIN1 + b".png", "wb") as handle:
        handle.write(synthetic.image_bytes(7))
    store = RunStore(tmp_path / "home")
    index = scan_dataset(data, home=store.home)
    run = store.create_run(None, 1, {"backbone": "small_cnn"}, str(data))
    outcome = execute_run(store, run, index=index, train_fn=fake_train_fold, make_config=lambda c: c, echo=None)
    assert outcome["status"] == "finished", outcome["error"]
    good = set(usable(index).query("split != 'train'")["path"])
    assert len(good) == 8 and good <= set(store.predictions(run)["path"])  # the store holds them all
    assert index.loc[index["path"].str.contains("caf"), "problem"].str.contains("not valid UTF-8").all()


def test_a_root_whose_path_is_not_utf8_is_a_clear_error(tmp_path):
    root = os.fsencode(tmp_path) + b"/" + LATIN1
    _flat(tmp_path / os.fsdecode(LATIN1))
    with pytest.raises(DatasetLayoutError, match="not valid UTF-8"):
        scan_dataset(os.fsdecode(root), use_cache=False)


# ---------------------------------------------------------------- empty fold folders


def test_fold_folders_without_images_are_named_not_blamed_on_the_layout(tmp_path):
    empty = tmp_path / "empty"
    for split in ("train", "valid", "test"):
        for label in ("normal", "abnormal"):
            (empty / "fold_1" / split / label).mkdir(parents=True)
    index = scan_dataset(empty, use_cache=False)
    assert index.attrs["layout"] == "folds" and index.attrs["layout_folds"] == [1]
    message = missing_images(index)
    assert message.startswith(f"no images found in {empty}") and "fold_1/train/normal" in message
    assert "flat" not in message


def test_one_empty_fold_among_full_ones_is_named(tmp_path):
    data = make_tiny_dataset(tmp_path / "data", folds=1, n_train=2, n_valid=1, n_test=1, size=16)
    for split in ("train", "valid", "test"):
        for label in ("normal", "abnormal"):
            (data / "fold_2" / split / label).mkdir(parents=True)
    index = scan_dataset(data, use_cache=False)
    assert index.attrs["layout_folds"] == [1, 2]
    assert "no images found in fold(s) 2" in missing_images(index)
    assert missing_images(index, folds=[1]) is None


def test_fold_folders_without_split_folders_say_no_images_found(tmp_path):
    for name in ("fold_1", "fold_2"):
        (tmp_path / "d" / name).mkdir(parents=True)
    with pytest.raises(DatasetLayoutError, match="no images found in fold_1, fold_2"):
        scan_dataset(tmp_path / "d", use_cache=False)
