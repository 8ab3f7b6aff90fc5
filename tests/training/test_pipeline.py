"""tf.data pipeline: fold selection, skipped rows, decode-once cache, batches, augmentation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from glaucoma_core.config import TrainConfig
from glaucoma_core.data.pipeline import (
    DecodedImageCache,
    augmentation_layer,
    fold_splits,
    load_images,
    make_dataset,
    one_hot,
)
from tests.training.synthetic import fold_index, make_fold_dataset


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("data") / "ds"
    make_fold_dataset(root, folds=2, n_train=8, n_valid=4, n_test=4, size=32)
    (root / "fold_1" / "train" / "normal" / "broken.png").write_bytes(b"not a png at all")
    return root


def test_fold_splits_skip_and_count_unusable_rows(dataset, tmp_path):
    index = fold_index(dataset, tmp_path)
    splits = fold_splits(index, 1)
    assert (len(splits.train), len(splits.valid), len(splits.test)) == (8, 4, 4)
    assert splits.skipped == 1
    assert any(path.endswith("broken.png") for path in splits.skipped_paths)
    assert fold_splits(index, 2).skipped == 0
    with pytest.raises(ValueError, match="fold 7"):
        fold_splits(index, 7)


def test_flat_index_carves_out_a_stratified_validation_set():
    index = pd.DataFrame({"path": [f"{i}.png" for i in range(40)], "sha256": [str(i) for i in range(40)],
                          "fold": pd.array([pd.NA] * 40, dtype="Int64"), "split": [None] * 40,
                          "label": [i % 2 for i in range(40)], "problem": [""] * 40})
    splits = fold_splits(index, None, seed=3)
    assert len(splits.valid) == 4 and sorted(splits.valid["label"]) == [0, 0, 1, 1]
    assert len(splits.train) == 36 and splits.test.empty
    assert not set(splits.valid["path"]) & set(splits.train["path"])


def test_images_are_decoded_once_per_content_hash(dataset, tmp_path):
    index = fold_index(dataset, tmp_path)
    splits = fold_splits(index, 1)
    cache = DecodedImageCache()
    first = load_images(splits.train, 24, cache=cache)
    assert first.images.shape == (8, 24, 24, 3) and first.images.dtype == np.uint8
    assert cache.misses == 8 and cache.hits == 0
    again = load_images(splits.train, 24, cache=cache)
    assert cache.hits == 8 and cache.misses == 8
    np.testing.assert_array_equal(first.images, again.images)
    load_images(splits.train, 16, cache=cache)  # another size is another key
    assert cache.misses == 16


def test_decode_failure_is_skipped_and_reported(dataset, tmp_path):
    index = fold_index(dataset, tmp_path)
    rows = fold_splits(index, 1).train.copy()
    bad = rows.iloc[[0]].assign(path=str(dataset / "fold_1" / "train" / "normal" / "broken.png"), sha256="x")
    loaded = load_images(pd.concat([rows, bad], ignore_index=True), 16, cache=DecodedImageCache())
    assert len(loaded.frame) == 8 and len(loaded.problems) == 1


def test_cache_evicts_beyond_its_budget():
    cache = DecodedImageCache(max_bytes=2 * 300)
    for i in range(5):
        cache.put((str(i), 10), np.zeros((10, 10, 3), np.uint8))
    assert len(cache) == 2 and cache.get(("4", 10)) is not None and cache.get(("0", 10)) is None


def test_dataset_batches_and_shuffle_is_seeded(dataset, tmp_path):
    index = fold_index(dataset, tmp_path)
    frame = fold_splits(index, 1).train
    load_images(frame, 20)
    data = make_dataset(frame, 20, 3, shuffle=True, seed=5)
    batches = list(data.as_numpy_iterator())
    assert [len(x) for x, _ in batches] == [3, 3, 2]
    x, y = batches[0]
    assert x.dtype == np.float32 and x.shape[1:] == (20, 20, 3) and 0 <= x.min() and x.max() <= 255
    assert y.shape == (3, 2) and set(y.sum(axis=1)) == {1.0}
    labels = np.concatenate([y for _, y in batches]).argmax(axis=1)
    assert sorted(labels) == sorted(frame["label"])
    again = np.concatenate([y for _, y in make_dataset(frame, 20, 3, shuffle=True, seed=5).as_numpy_iterator()])
    np.testing.assert_array_equal(again.argmax(axis=1), labels)


def test_unshuffled_dataset_keeps_row_order(dataset, tmp_path):
    frame = fold_splits(fold_index(dataset, tmp_path), 1).valid
    labels = np.concatenate([y for _, y in make_dataset(frame, 16, 2).as_numpy_iterator()]).argmax(axis=1)
    np.testing.assert_array_equal(labels, frame["label"].to_numpy())


def test_augmentation_off_by_default_and_changes_pixels_when_on():
    assert augmentation_layer(TrainConfig()) is None
    layer = augmentation_layer(TrainConfig(augment_hflip=True, augment_rotation=20, augment_zoom=0.1,
                                           augment_brightness=0.2, augment_contrast=0.2))
    x = np.random.default_rng(0).uniform(0, 255, (4, 16, 16, 3)).astype(np.float32)
    out = np.asarray(layer(x, training=True))
    assert out.shape == x.shape and not np.allclose(out, x)


def test_one_hot_puts_glaucoma_in_column_one():
    np.testing.assert_array_equal(one_hot([0, 1, 1]), [[1, 0], [0, 1], [0, 1]])


def test_dataset_from_decoded_array_gives_the_same_batches(dataset, tmp_path):
    frame = fold_splits(fold_index(dataset, tmp_path), 1).train
    loaded = load_images(frame, 20, cache=DecodedImageCache())
    for shuffle in (False, True):
        by_cache = list(make_dataset(loaded.frame, 20, 3, shuffle=shuffle, seed=7).as_numpy_iterator())
        by_array = list(make_dataset(loaded.frame, 20, 3, shuffle=shuffle, seed=7,
                                     images=loaded.images).as_numpy_iterator())
        assert [len(x) for x, _ in by_array] == [len(x) for x, _ in by_cache] == [3, 3, 2]
        for (xa, ya), (xc, yc) in zip(by_array, by_cache, strict=True):
            assert xa.dtype == np.float32
            np.testing.assert_array_equal(xa, xc)
            np.testing.assert_array_equal(ya, yc)
    with pytest.raises(ValueError, match="do not match"):
        make_dataset(loaded.frame, 24, 3, images=loaded.images)


def test_duplicate_content_is_decoded_once_within_a_call(dataset, tmp_path):
    rows = fold_splits(fold_index(dataset, tmp_path), 1).train
    doubled = pd.concat([rows, rows], ignore_index=True)
    cache = DecodedImageCache()
    loaded = load_images(doubled, 16, cache=cache)
    assert len(loaded.frame) == 2 * len(rows) and cache.misses == len(rows) and cache.hits == 0
    np.testing.assert_array_equal(loaded.images[: len(rows)], loaded.images[len(rows):])


# ---- fundus preparation on every path (issue 16) -------------------------------------------------


@pytest.fixture(scope="module")
def full_field_index(tmp_path_factory):
    from glaucoma_core.data.demo import generate_demo_dataset
    from glaucoma_core.data.index import scan_dataset

    root = tmp_path_factory.mktemp("ff") / "data"
    generate_demo_dataset(root, n_images=16, k=2, image_size=160, style="full-field", seed=3)
    return scan_dataset(root, use_cache=False)


def test_prepared_pixels_are_identical_through_training_predict_and_the_page_loader(full_field_index):
    from glaucoma_core.preparation import load_prepared_array
    from glaucoma_core.training.predict import load_model_inputs

    config = TrainConfig(backbone="small_cnn", input_size=40, prepare_disc_crop="auto", prepare_illumination="clahe")
    frame = fold_splits(full_field_index, 1).test
    assert len(frame) >= 4
    # training: load_images through the decoded-image cache, and the tf.data decode path
    loaded = load_images(frame, 40, preparation=config, cache=DecodedImageCache())
    batches = np.concatenate([x for x, _ in make_dataset(frame, 40, 3, cache=DecodedImageCache(),
                                                        preparation=config).as_numpy_iterator()])
    # predict / Classify: files and uploaded bytes; the loader the pages use
    files = load_model_inputs(frame["path"].tolist(), 40, config)
    uploads = load_model_inputs([open(p, "rb").read() for p in frame["path"]], 40, config.to_dict())
    pages = np.stack([load_prepared_array(p, 40, config) for p in frame["path"]])
    assert np.array_equal(loaded.images, files) and np.array_equal(files, uploads)
    assert np.array_equal(files, pages) and np.array_equal(batches, files.astype(np.float32))
    # and the preparation did something: full-field photographs cropped around the disc
    plain = load_images(frame, 40, cache=DecodedImageCache()).images
    assert not np.array_equal(plain, files)


@pytest.mark.slow  # trains one tiny fold: a few seconds
def test_a_fold_trains_on_prepared_images_and_predict_matches_its_predictions(full_field_index):
    from glaucoma_core.training.feature_cache import feature_key
    from glaucoma_core.training.predict import predict_files
    from glaucoma_core.training.trainer import train_fold

    config = TrainConfig(backbone="small_cnn", backbone_options={"filters": [4, 8]}, input_size=40,
                         epochs=1, batch_size=4, prepare_disc_crop="auto", early_stopping=False)
    result = train_fold(config, full_field_index, 1)
    summary = result.info["preparation"]
    assert summary["settings"]["disc_crop"] == "auto" and summary["disc_crop"] >= summary["images"] // 2
    test = result.predictions[result.predictions["split"] == "test"]
    again = predict_files(result.model, test["path"].tolist(), config)
    assert np.allclose(again, test["probability"].to_numpy(), atol=1e-5)
    # the feature-cache key changes with the preparation (and names its version)
    frozen = TrainConfig(backbone="small_cnn", input_size=40)
    assert "preparation" not in feature_key(frozen)
    assert "prep-" in feature_key(TrainConfig(backbone="small_cnn", input_size=40, prepare_disc_crop="on"))["preparation"]
