"""Scanning dataset folders into the index: layouts, labels, duplicates, leaks, cache."""

from __future__ import annotations

import os

import pytest

from glaucoma_core import labels
from glaucoma_core.data.index import (
    INDEX_COLUMNS,
    DatasetLayoutError,
    dataset_fingerprint,
    find_duplicates,
    find_leaks,
    fold_numbers,
    scan_dataset,
    usable,
)
from tests.data.synthetic import make_flat_dataset, write_image


def _fold_dataset(root, folds=("fold_1", "Fold2", "CV_03"), splits=("train", "valid", "test"),
                  classes=("normal", "abnormal"), per_class=2):
    seed = 1000
    for fold in folds:
        for split in splits:
            for class_dir in classes:
                for i in range(per_class):
                    write_image(root / fold / split / class_dir / f"img_{i}.png", seed)
                    seed += 1
    return root


# --- labels --------------------------------------------------------------------------------


def test_abnormal_is_label_one_not_alphabetical_order(tmp_path):
    """flow_from_directory numbers class folders alphabetically: abnormal would be 0. Not here."""
    root = make_flat_dataset(tmp_path / "flat", n_normal=3, n_abnormal=2)
    index = scan_dataset(root, use_cache=False)
    alphabetical = {name: i for i, name in enumerate(sorted(os.listdir(root)))}
    assert alphabetical["abnormal"] == 0  # the trap
    by_class = index.groupby("class_name")["label"].unique()
    assert list(by_class["abnormal"]) == [labels.POSITIVE_LABEL] == [1]
    assert list(by_class["normal"]) == [labels.NEGATIVE_LABEL] == [0]
    assert (index.loc[index["relpath"].str.startswith("abnormal/"), "label"] == 1).all()
    assert index["label"].sum() == 2


@pytest.mark.parametrize("positive, negative", [("Glaucoma", "Healthy"), ("1", "0"), ("POSITIVE", "negative"),
                                                ("glaucomatous", "NORMAL")])
def test_class_aliases(tmp_path, positive, negative):
    root = make_flat_dataset(tmp_path / "d", 2, 3, normal_dir=negative, abnormal_dir=positive)
    index = scan_dataset(root, use_cache=False)
    assert index.attrs["layout"] == "flat"
    assert dict(index.groupby("class_name")["label"].first()) == {positive: 1, negative: 0}


# --- layouts -------------------------------------------------------------------------------


def test_flat_layout_columns_and_types(tmp_path):
    root = make_flat_dataset(tmp_path / "flat", 2, 2)
    index = scan_dataset(root, use_cache=False)
    assert list(index.columns) == INDEX_COLUMNS
    assert index.attrs["layout"] == "flat" and index.attrs["root"] == str(root)
    assert str(index["fold"].dtype) == "Int64" and index["fold"].isna().all()
    assert index["split"].isna().all()
    assert str(index["width"].dtype) == "Int64" and set(index["width"]) == {24}
    assert all(os.path.isabs(p) for p in index["path"])
    assert set(index["relpath"]) == {"normal/n_000.png", "normal/n_001.png", "abnormal/a_000.png",
                                     "abnormal/a_001.png"}
    assert (index["problem"] == "").all() and index["sha256"].str.len().eq(64).all()
    assert fold_numbers(index) == []


def test_fold_layout_names_ordered_by_number(tmp_path):
    root = _fold_dataset(tmp_path / "cv", folds=("fold_10", "Fold2", "1", "CV_03"),
                         splits=("training", "val", "Testing"), classes=("Glaucoma", "healthy"), per_class=1)
    index = scan_dataset(root, use_cache=False)
    assert index.attrs["layout"] == "folds"
    assert fold_numbers(index) == [1, 2, 3, 10]
    assert list(dict.fromkeys(index["fold"])) == [1, 2, 3, 10]  # rows ordered by fold number
    assert set(index["split"]) == {"train", "valid", "test"}
    assert len(index) == 4 * 3 * 2
    counts = index.groupby(["fold", "split", "label"]).size()
    assert (counts == 1).all()


def test_single_split_set_without_fold_folders_is_fold_one(tmp_path):
    root = tmp_path / "tvt"
    for split in ("train", "test"):
        make_flat_dataset(root / split, 1, 1, first_seed=10 if split == "test" else 0)
    index = scan_dataset(root, use_cache=False)
    assert fold_numbers(index) == [1] and set(index["split"]) == {"train", "test"}


def test_images_in_subfolders_extensions_and_clutter(tmp_path):
    root = tmp_path / "flat"
    write_image(root / "normal" / "a.JPG", 1)
    write_image(root / "normal" / "b.JpEg", 2)
    write_image(root / "normal" / "c.TIFF", 3)
    write_image(root / "normal" / "d.bmp", 4)
    write_image(root / "normal" / "camera2" / "e.png", 5)
    write_image(root / "abnormal" / "f.tif", 6)
    (root / "normal" / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    (root / "normal" / "Thumbs.db").write_bytes(b"\xd0\xcf\x11\xe0")
    (root / "normal" / "._a.JPG").write_bytes(b"\x00\x05\x16\x07AppleDouble")
    (root / "normal" / "notes.txt").write_text("not indexed")
    write_image(root / "normal" / ".hidden" / "g.png", 7)
    write_image(root / "__MACOSX" / "normal" / "h.png", 8)
    write_image(root / "unlabelled" / "i.png", 9)
    index = scan_dataset(root, use_cache=False)
    assert sorted(index["relpath"]) == sorted(["normal/a.JPG", "normal/b.JpEg", "normal/c.TIFF", "normal/d.bmp",
                                               "normal/camera2/e.png", "abnormal/f.tif"])
    assert (index["problem"] == "").all()
    assert "unlabelled" in index.attrs["ignored"]


def test_symlinked_folder_loop_does_not_hang(tmp_path):
    root = make_flat_dataset(tmp_path / "flat", 2, 1)
    (root / "normal" / "again").symlink_to(root / "normal")
    (root / "abnormal" / "up").symlink_to(root)
    index = scan_dataset(root, use_cache=False)
    # the link back to the root must not index the normal images a second time as abnormal
    assert sorted(index["relpath"]) == ["abnormal/a_000.png", "normal/n_000.png", "normal/n_001.png"]
    assert index.groupby("class_name")["label"].first().to_dict() == {"abnormal": 1, "normal": 0}


@pytest.mark.parametrize("make", ["missing", "file", "no-classes"])
def test_not_a_dataset_is_a_clear_error(tmp_path, make):
    target = tmp_path / "x"
    if make == "file":
        target.write_text("hello")
    elif make == "no-classes":
        write_image(target / "pictures" / "a.png", 1)
    with pytest.raises(DatasetLayoutError) as caught:
        scan_dataset(target, use_cache=False)
    assert str(target) in str(caught.value)


def test_empty_class_folders_give_an_empty_index(tmp_path):
    (tmp_path / "d" / "normal").mkdir(parents=True)
    (tmp_path / "d" / "abnormal").mkdir()
    index = scan_dataset(tmp_path / "d", use_cache=False)
    assert len(index) == 0 and list(index.columns) == INDEX_COLUMNS


# --- duplicates and leaks ------------------------------------------------------------------


def test_duplicates_and_leaks(tmp_path):
    root = _fold_dataset(tmp_path / "cv", folds=("fold_1", "fold_2"), per_class=1)
    shared = root / "fold_1" / "test" / "abnormal" / "img_0.png"
    # leak: the fold-1 test image also in fold 1's train split (under another name)
    (root / "fold_1" / "train" / "abnormal" / "copy.png").write_bytes(shared.read_bytes())
    # not a leak: the same image in fold 2's train split (that is how CV layouts look)
    (root / "fold_2" / "train" / "abnormal" / "copy.png").write_bytes(shared.read_bytes())
    # duplicate inside one split with a conflicting label
    other = root / "fold_2" / "valid" / "normal" / "img_0.png"
    (root / "fold_2" / "valid" / "abnormal" / "same.png").write_bytes(other.read_bytes())

    index = scan_dataset(root, use_cache=False)
    leaks = find_leaks(index)
    assert len(leaks) == 1
    leak = leaks.iloc[0]
    assert leak["fold"] == 1 and leak["splits"] == ["train", "test"]
    assert sorted(leak["paths"]) == ["fold_1/test/abnormal/img_0.png", "fold_1/train/abnormal/copy.png"]

    duplicates = find_duplicates(index)
    assert sorted(zip(duplicates["fold"], duplicates["n"], duplicates["label_conflict"], strict=True)) == [
        (1, 2, False), (2, 2, True)]


def test_fingerprint_stable_and_sensitive(tmp_path):
    root = make_flat_dataset(tmp_path / "flat", 2, 2)
    first = dataset_fingerprint(scan_dataset(root, use_cache=False))
    assert first == dataset_fingerprint(scan_dataset(root))
    (root / "abnormal" / "a_000.png").rename(root / "normal" / "a_000.png")  # relabel one image
    assert dataset_fingerprint(scan_dataset(root)) != first


# --- speed: cache, hard links, threads -----------------------------------------------------


def test_cache_makes_rescan_decode_nothing_and_notices_changes(tmp_path):
    root = make_flat_dataset(tmp_path / "flat", 4, 4)
    first = scan_dataset(root, workers=2)
    assert first.attrs["cache_hits"] == 0 and first.attrs["decoded"] == 8
    second = scan_dataset(root, workers=2)
    assert second.attrs["cache_hits"] == 8 and second.attrs["decoded"] == 0
    assert second.drop(columns=[]).equals(first)

    changed = root / "normal" / "n_000.png"
    changed.write_bytes(changed.read_bytes()[:-40])  # now truncated, size differs
    third = scan_dataset(root)
    assert third.attrs["decoded"] == 1
    assert third.set_index("relpath").loc["normal/n_000.png", "problem"] != ""


def test_cache_can_be_bypassed_and_a_broken_cache_is_harmless(tmp_path, isolated_home):
    root = make_flat_dataset(tmp_path / "flat", 2, 2)
    scan_dataset(root)
    assert scan_dataset(root, use_cache=False).attrs["decoded"] == 4
    cache_file = isolated_home / "cache" / "scan_cache.sqlite"
    assert cache_file.exists()
    for extra in ("-wal", "-shm"):
        (isolated_home / "cache" / f"scan_cache.sqlite{extra}").unlink(missing_ok=True)
    cache_file.write_bytes(b"this is not a database" * 100)
    index = scan_dataset(root)
    assert len(usable(index)) == 4


def test_hard_links_and_identical_copies_are_decoded_once(tmp_path):
    root = tmp_path / "cv"
    source = write_image(tmp_path / "one.png", 42)
    for fold in range(1, 4):
        for split in ("train", "test"):
            target = root / f"fold_{fold}" / split / "abnormal" / "one.png"
            target.parent.mkdir(parents=True, exist_ok=True)
            os.link(source, target)
    (root / "fold_1" / "train" / "normal").mkdir()
    (root / "fold_1" / "train" / "normal" / "copy.png").write_bytes(source.read_bytes())
    index = scan_dataset(root, use_cache=False)
    assert len(index) == 7 and index.attrs["decoded"] == 1
    assert index["sha256"].nunique() == 1 and (index["problem"] == "").all()


def test_progress_reports_every_file(tmp_path):
    root = make_flat_dataset(tmp_path / "flat", 3, 2)
    calls = []
    scan_dataset(root, use_cache=False, workers=2, progress=lambda done, total: calls.append((done, total)))
    assert calls[-1] == (5, 5)
