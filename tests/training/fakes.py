"""Test helpers for the store/jobs/CV tests: a tiny fold-layout dataset and a fake trainer.

The fake trainer follows the trainer's contract (``train_fold(config, index, fold, reporter=,
home=) -> FoldResult``) without learning anything, so that store, CV and cancel logic can be
tested in milliseconds; the slow tests use the real trainer.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

# A config the real trainer runs in seconds on a CPU.
TINY_SETTINGS = {
    "backbone": "small_cnn", "input_size": 32, "weights": "none", "trainable": "all",
    "epochs": 2, "batch_size": 8, "early_stopping": False, "augment_hflip": False,
    "augment_vflip": False, "mixed_precision": "off", "xla": "off",
}


def tiny_config(**changes):
    """The cpu-small preset shrunk to 32 px and 2 epochs (TrainConfig)."""
    from glaucoma_core.config import get_preset

    return get_preset("cpu-small").with_overrides({**TINY_SETTINGS, **changes})


def make_tiny_dataset(root: Path, *, folds: int = 2, n_train: int = 12, n_valid: int = 4, n_test: int = 4,
                      size: int = 32, seed: int = 0) -> Path:
    """fold_k/{train,valid,test}/{normal,abnormal}/*.png; glaucoma images have a bright centre."""
    rng = np.random.default_rng(seed)
    counts = {"train": n_train, "valid": n_valid, "test": n_test}
    for fold in range(1, folds + 1):
        for split, n in counts.items():
            for class_dir, bright in (("normal", 0), ("abnormal", 1)):
                folder = root / f"fold_{fold}" / split / class_dir
                folder.mkdir(parents=True, exist_ok=True)
                for i in range(n):
                    pixels = rng.integers(20, 90, size=(size, size, 3), dtype=np.uint8)
                    if bright:
                        c = size // 4
                        pixels[c:-c, c:-c] = rng.integers(200, 255, size=(size - 2 * c, size - 2 * c, 3))
                    Image.fromarray(pixels).save(folder / f"{split}_{class_dir}_{fold}_{i}.png")
    return root


@dataclass
class FakeResult:
    model: object
    history: list
    predictions: pd.DataFrame
    best_epoch: int
    cancelled: bool = False
    skipped_images: int = 0
    seconds: float = 0.01
    extra: dict = field(default_factory=dict)


def tiny_keras_model():
    import keras

    inputs = keras.Input((4,))
    return keras.Model(inputs, keras.layers.Dense(2, activation="softmax", name="probabilities")(inputs))


def fake_train_fold(config, index, fold, *, reporter=None, home=None, epochs=3, sleep=0.0,
                    fail_at_epoch=None, on_epoch=None):
    """Pretends to train: reports ``epochs`` epochs, honours cancel, predicts the label."""
    rows = index[(index["fold"] == fold) & index["split"].isin(["valid", "test"])]
    if reporter:
        reporter.on_train_begin({"epochs": epochs, "n_train": 1, "n_valid": 1, "n_test": 1, "steps_per_epoch": 1})
    history, cancelled = [], False
    for epoch in range(1, epochs + 1):
        if fail_at_epoch == epoch:
            raise RuntimeError(f"fake failure at epoch {epoch}")
        time.sleep(sleep)
        metrics = {"loss": 1.0 / epoch, "val_auc": 0.5 + epoch / 10}
        history.append(metrics)
        if on_epoch:
            on_epoch(fold, epoch)
        if reporter:
            reporter.on_epoch_end(epoch, metrics)
            if reporter.should_cancel():
                cancelled = True
                break
    predictions = pd.DataFrame({
        "split": rows["split"].values, "path": rows["path"].values, "sha256": rows["sha256"].values,
        "label": rows["label"].astype(int).values,
        "probability": np.where(rows["label"].astype(int).values == 1, 0.8, 0.2),
    })
    return FakeResult(tiny_keras_model(), history, predictions, best_epoch=len(history), cancelled=cancelled)
