"""make_folds: the fold properties, proven on generated flat datasets."""

from __future__ import annotations

import os

import pandas as pd
import pytest

from glaucoma_core.data import folds as folds_module
from glaucoma_core.data.folds import FoldsError, make_folds
from glaucoma_core.data.index import find_leaks, fold_numbers, scan_dataset
from tests.data.synthetic import make_flat_dataset, truncated_jpeg, write_image


@pytest.fixture
def flat(tmp_path):
    return make_flat_dataset(tmp_path / "flat", n_normal=41, n_abnormal=19)


def _split_of(result: pd.DataFrame) -> pd.DataFrame:
    """fold x source -> split."""
    written = result[result["problem"] == ""]
    return written.pivot(index="source", columns="fold", values="split")


def test_every_image_in_exactly_one_test_fold_and_once_per_fold(flat, tmp_path):
    result = make_folds(flat, tmp_path / "out", k=5, seed=0)
    table = _split_of(result)
    assert len(table) == 60 and list(table.columns) == [1, 2, 3, 4, 5]
    assert ((table == "test").sum(axis=1) == 1).all()  # exactly one test fold per image
    assert table.notna().all().all()  # and present in every fold
    for fold in range(1, 6):
        written = result[result["fold"] == fold]
        assert written["source"].is_unique


def test_positives_spread_evenly_and_validation_is_stratified(flat, tmp_path):
    result = make_folds(flat, tmp_path / "out", k=5, seed=3, valid_fraction=0.2)
    counts = result.groupby(["fold", "split", "label"]).size().unstack(fill_value=0)
    test = counts.xs("test", level="split")
    assert test[1].max() - test[1].min() <= 1 and test[0].max() - test[0].min() <= 1
    for fold in range(1, 6):
        train, valid = counts.loc[(fold, "train")], counts.loc[(fold, "valid")]
        for label in (0, 1):
            share = valid[label] / (train[label] + valid[label])
            assert 0.1 <= share <= 0.3, (fold, label, share)


def test_layout_on_disk_reads_back_without_leaks(flat, tmp_path):
    out = tmp_path / "out"
    result = make_folds(flat, out, k=4, seed=0)
    assert sorted(p.name for p in out.iterdir()) == ["fold_01", "fold_02", "fold_03", "fold_04",
                                                    "fold_assignment.csv"]
    for split in ("train", "valid", "test"):
        assert {p.name for p in (out / "fold_01" / split).iterdir()} == {"normal", "abnormal"}
    index = scan_dataset(out)
    assert index.attrs["layout"] == "folds" and fold_numbers(index) == [1, 2, 3, 4]
    assert len(index) == len(result) == 4 * 60 and (index["problem"] == "").all()
    assert find_leaks(index).empty
    # labels survive: abnormal sources land in abnormal folders, and read back as 1
    src_label = scan_dataset(flat).set_index("sha256")["label"]
    assert (index["label"].to_numpy() == src_label.loc[index["sha256"]].to_numpy()).all()
    assert set(index.loc[index["label"] == 1, "class_name"]) == {"abnormal"}


def test_hard_links_where_possible_else_copies(flat, tmp_path, monkeypatch):
    result = make_folds(flat, tmp_path / "linked", k=3)
    first = result.iloc[0]
    assert os.stat(first["source"]).st_ino == os.stat(tmp_path / "linked" / first["target"]).st_ino
    assert result.attrs["hard_links"] == len(result) and result.attrs["copies"] == 0

    def no_links(*args, **kwargs):
        raise OSError(18, "Invalid cross-device link")

    monkeypatch.setattr(folds_module.os, "link", no_links)
    copied = make_folds(flat, tmp_path / "copied", k=3)
    assert copied.attrs["copies"] == len(copied)
    row = copied.iloc[0]
    target = tmp_path / "copied" / row["target"]
    assert os.stat(row["source"]).st_ino != os.stat(target).st_ino
    assert target.read_bytes() == open(row["source"], "rb").read()


def test_deterministic_for_a_seed(flat, tmp_path):
    a = make_folds(flat, tmp_path / "a", k=5, seed=7)
    b = make_folds(flat, tmp_path / "b", k=5, seed=7)
    c = make_folds(flat, tmp_path / "c", k=5, seed=8)
    assert a[["fold", "split", "source", "target"]].equals(b[["fold", "split", "source", "target"]])
    assert not _split_of(a).equals(_split_of(c))


def test_exact_duplicates_stay_together(flat, tmp_path):
    original = flat / "abnormal" / "a_000.png"
    for name in ("copy_1.png", "copy_2.png"):
        (flat / "abnormal" / name).write_bytes(original.read_bytes())
    (flat / "normal" / "copy_n.png").write_bytes((flat / "normal" / "n_005.png").read_bytes())
    result = make_folds(flat, tmp_path / "out", k=5, seed=0)
    for fold, written in result.groupby("fold"):
        per_content = written.groupby("sha256")["split"].nunique()
        assert (per_content == 1).all(), f"fold {fold}: a duplicate crosses splits"
    assert find_leaks(scan_dataset(tmp_path / "out")).empty


@pytest.mark.parametrize("column, naming", [("relpath", "relpath"), ("Filename", "name"), ("image", "relpath")])
def test_groups_never_cross_splits(flat, tmp_path, column, naming):
    index = scan_dataset(flat)
    rows = []
    for i, relpath in enumerate(sorted(index["relpath"])):
        rows.append({column: relpath if naming == "relpath" else relpath.split("/")[-1],
                     "patient": f"p{i // 3}"})  # three images per patient, classes may mix
    groups_csv = tmp_path / "groups.csv"
    pd.DataFrame(rows).to_csv(groups_csv, index=False)

    result = make_folds(flat, tmp_path / "out", k=4, seed=1, valid_fraction=0.25, groups_csv=groups_csv)
    assert set(result["group"]) == {f"p{i}" for i in range(20)}
    for fold, written in result.groupby("fold"):
        per_group = written.groupby("group")["split"].nunique()
        assert (per_group == 1).all(), f"fold {fold}: a patient crosses splits"
        assert (written["split"] == "valid").any()


def test_groups_csv_errors_are_clear(flat, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("foo,bar\nx,y\n")
    with pytest.raises(FoldsError, match="group column"):
        make_folds(flat, tmp_path / "out", k=3, groups_csv=bad)
    with pytest.raises(FoldsError, match="cannot read"):
        make_folds(flat, tmp_path / "out", k=3, groups_csv=tmp_path / "missing.csv")
    assert not (tmp_path / "out").exists()


def test_bad_images_are_reported_not_copied(flat, tmp_path):
    (flat / "abnormal" / "broken.jpg").write_bytes(truncated_jpeg())
    (flat / "normal" / "empty.png").write_bytes(b"")
    result = make_folds(flat, tmp_path / "out", k=3)
    bad = result[result["problem"] != ""]
    assert sorted(os.path.basename(p) for p in bad["source"]) == ["broken.jpg", "empty.png"]
    assert bad["fold"].isna().all() and (bad["target"] == "").all()
    index = scan_dataset(tmp_path / "out")
    assert len(index) == 3 * 60 and (index["problem"] == "").all()


@pytest.mark.parametrize("kwargs, words", [({"k": 1}, "at least 2"), ({"k": 61}, "cannot fill"),
                                           ({"valid_fraction": 1.0}, "valid fraction")])
def test_impossible_requests_are_refused(flat, tmp_path, kwargs, words):
    with pytest.raises(FoldsError, match=words):
        make_folds(flat, tmp_path / "out", **kwargs)
    assert not (tmp_path / "out").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]  # no staging left behind


def test_refuses_non_empty_output_and_fold_layout_source(flat, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(FoldsError, match="not empty"):
        make_folds(flat, out, k=3)
    make_folds(flat, tmp_path / "cv", k=3)
    with pytest.raises(FoldsError, match="flat dataset"):
        make_folds(tmp_path / "cv", tmp_path / "again", k=3)
    with pytest.raises(FoldsError, match="inside the source"):
        make_folds(flat, flat / "normal" / "folds", k=3)


def test_empty_output_folder_is_accepted(flat, tmp_path):
    (tmp_path / "out").mkdir()
    write_image(tmp_path / "unrelated.png", 1)
    result = make_folds(flat, tmp_path / "out", k=2, valid_fraction=0)
    assert set(result["split"]) == {"train", "test"}
