"""Bad data through training (issue 7): the hostile corpus next to good images in a fold.

A tiny real fold (small_cnn, 32 px, 1 epoch) is trained on a fold-layout dataset whose train
split holds the whole hostile corpus (zero bytes, truncated, broken CRC, HTML, decompression
bombs, symlink loops, odd names...) and whose valid split holds a second copy of it. Good
images are used, bad ones are skipped and counted with their reason, nothing crashes, and a
SIGALRM guard turns a hang into a failure instead of a stuck CI job.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from glaucoma_core.data.index import scan_dataset
from tests.faults.deadline import deadline
from tests.faults.hostile_corpus import EXPECTED_BAD, EXPECTED_GOOD, write_hostile_corpus
from tests.training.fakes import tiny_config

pytestmark = pytest.mark.slow

TIME_LIMIT_S = 240  # the fold trains in a few seconds; this only catches a hang


def _good_images(folder: Path, prefix: str, n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    for class_dir in ("normal", "abnormal"):
        (folder / class_dir).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            pixels = rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(folder / class_dir / f"{prefix}_{class_dir}_{i}.png")


@pytest.fixture(scope="module")
def hostile_fold(tmp_path_factory):
    """fold_1/{train,valid,test}: the corpus in train and valid, plain good images everywhere."""
    root = tmp_path_factory.mktemp("hostile_folds") / "data"
    fold = root / "fold_1"
    write_hostile_corpus(fold / "train")
    write_hostile_corpus(fold / "valid")
    _good_images(fold / "train", "extra", 4, seed=1)
    _good_images(fold / "test", "test", 3, seed=2)
    return root


def test_tiny_fold_trains_on_good_images_and_skips_bad_ones(hostile_fold):
    from glaucoma_core.training.reporting import RecordingReporter
    from glaucoma_core.training.trainer import train_fold

    index = scan_dataset(hostile_fold, use_cache=False, workers=2)
    assert index.attrs["layout"] == "folds"
    n_bad = int((index["problem"] != "").sum())
    assert n_bad == 2 * len(EXPECTED_BAD)  # every hostile file is in the index, flagged

    # A file that turns bad after the scan (truncated on disk) is skipped by the trainer too.
    late = hostile_fold / "fold_1" / "train" / "normal" / "extra_normal_0.png"
    late.write_bytes(late.read_bytes()[:60])

    reporter = RecordingReporter()
    config = tiny_config(epochs=1, batch_size=4)
    with deadline(TIME_LIMIT_S, "training a tiny fold on the hostile corpus"):
        result = train_fold(config, index, 1, reporter=reporter)

    n_good_train = len(EXPECTED_GOOD) + 2 * 4 - 1  # corpus + extras, minus the late casualty
    n_good_valid = len(EXPECTED_GOOD)
    assert reporter.info["n_train"] == n_good_train
    assert reporter.info["n_valid"] == n_good_valid
    assert reporter.info["n_test"] == 6
    assert result.skipped_images == n_bad + 1
    assert len(result.history) == 1 and not result.cancelled

    # every skipped path is named with its reason, and it is exactly the bad ones
    skipped = result.info["skipped_paths"]
    assert len(skipped) == n_bad + 1
    assert str(late) in skipped and "truncat" in skipped[str(late)].lower()
    for split in ("train", "valid"):
        for relpath, word in EXPECTED_BAD.items():
            path = str(hostile_fold / "fold_1" / split / relpath)
            assert word.lower() in skipped[path].lower(), (path, skipped[path])
    assert any("skipped" in line and str(n_bad + 1) in line for line in reporter.messages)

    # predictions cover the good valid and test images only, with finite probabilities
    predictions = result.predictions
    assert sorted(predictions["split"].value_counts().items()) == [("test", 6), ("valid", n_good_valid)]
    assert not set(predictions["path"]) & set(skipped)
    assert np.isfinite(predictions["probability"]).all()
    assert predictions["probability"].between(0, 1).all()
