"""Tiny synthetic fundus-like datasets for the training tests.

A dark field with a bright disc; glaucoma (label 1) has a large dark cup in the disc,
normal (label 0) a small one. Position, size, brightness and noise vary, so a network has
to look at the cup, but the task is easy enough to learn in a few epochs at 32-64 px.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from glaucoma_core.labels import CLASS_DIR_NAMES


def render(label: int, rng: np.random.Generator, size: int = 64) -> np.ndarray:
    """One uint8 (size, size, 3) image of class ``label``."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    cx, cy = rng.uniform(0.35, 0.65, 2) * size
    radius = rng.uniform(0.22, 0.3) * size
    cup = radius * (rng.uniform(0.6, 0.8) if label == 1 else rng.uniform(0.15, 0.35))
    dist = np.hypot(xx - cx, yy - cy)
    image = np.zeros((size, size, 3), np.float32)
    image[..., 0] = 90 + rng.uniform(-20, 20)
    image[..., 1] = 40
    image[..., 2] = 20
    disc = dist < radius
    image[disc] = [230, 200, 120]
    image[dist < cup] = [110, 70, 40]
    image += rng.normal(0, 12, image.shape)
    return np.clip(image * rng.uniform(0.8, 1.1), 0, 255).astype(np.uint8)


def make_fold_dataset(root: Path, *, folds: int = 2, n_train: int = 24, n_valid: int = 8, n_test: int = 8,
                      size: int = 64, seed: int = 0) -> Path:
    """ROOT/fold_N/{train,valid,test}/{normal,abnormal}/*.png, balanced classes, unique images."""
    rng = np.random.default_rng(seed)
    counter = 0
    for fold in range(1, folds + 1):
        for split, n in (("train", n_train), ("valid", n_valid), ("test", n_test)):
            for i in range(n):
                label = i % 2
                folder = root / f"fold_{fold}" / split / CLASS_DIR_NAMES[label]
                folder.mkdir(parents=True, exist_ok=True)
                Image.fromarray(render(label, rng, size)).save(folder / f"img_{counter:04d}.png")
                counter += 1
    return root


def fold_index(root: Path, home: Path | None = None):
    """The index of a dataset made by :func:`make_fold_dataset` (via scan_dataset)."""
    from glaucoma_core.data.index import scan_dataset

    return scan_dataset(root, use_cache=False, home=home)
