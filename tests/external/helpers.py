"""Datasets and stored experiments for the external-validation tests (small and fast)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from glaucoma_core.data.demo import render_demo_images
from glaucoma_core.data.fundus_synth import sample_full_field, sample_parameters


def synthetic_flat(root: Path, n: int, seed: int, *, size: int = 64, style: str = "disc", camera: int | None = None,
                   glaucoma_scale: int = 1) -> Path:
    """A flat dataset root/<normal|abnormal>/ of ``n`` synthetic fundus images.

    style: 'disc' (the demo images) or 'full-field'. camera: every image from this camera
    (default: the balanced camera mix). glaucoma_scale: glaucoma images stored at this many
    times the side of normal ones (a planted size shortcut).
    """
    if style == "disc":
        params, layouts = sample_parameters(n, seed), None
    else:
        params, layouts = (list(x) for x in zip(*sample_full_field(n, seed), strict=True))
    if camera is not None:
        params = [dataclasses.replace(p, camera=camera) for p in params]
    for label in (0, 1):
        keep = [i for i, p in enumerate(params) if p.label == label]
        render_demo_images([params[i] for i in keep], root, size * (glaucoma_scale if label else 1), threads=1,
                           layouts=None if layouts is None else [layouts[i] for i in keep], style=style)
    return root


def brightness_model(bias: float = -9.0, size: int = 32):
    """A Keras classifier of raw RGB 0..255 whose P(glaucoma) grows with the mean brightness
    (the tiny datasets' glaucoma images have a bright centre)."""
    import keras

    inputs = keras.Input((size, size, 3))
    x = keras.layers.Rescaling(1 / 255)(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    dense = keras.layers.Dense(2, activation="softmax", name="probabilities")
    model = keras.Model(inputs, dense(x))
    dense.set_weights([np.array([[0.0, 10.0]] * 3, np.float32), np.array([0.0, bias], np.float32)])
    return model


def stored_experiment(bench, root: Path, folds: int = 3, name: str = "bright") -> tuple[int, list[int]]:
    """An experiment over the fold dataset at ``root`` whose fold models are brightness models
    (one bias per fold), with their valid/test predictions stored as training would."""
    from glaucoma_core.training.predict import predict_probabilities

    dataset = bench.dataset(root)
    store = bench.store
    config = {"backbone": "small_cnn", "input_size": 32}
    exp = store.create_experiment(name, config, str(dataset.root), "fp", list(range(1, folds + 1)))
    runs = []
    for fold in range(1, folds + 1):
        run = store.create_run(exp, fold, config, str(dataset.root))
        model = brightness_model(-9.0 + 0.3 * (fold - 2))
        rows = dataset.index[(dataset.index.fold == fold) & dataset.index.split.isin(["valid", "test"])]
        images = np.stack([np.asarray(Image.open(p).convert("RGB")) for p in rows.path])
        store.save_predictions(run, pd.DataFrame({
            "split": rows.split, "path": rows.path, "sha256": rows.sha256, "label": rows.label,
            "probability": predict_probabilities(model, images)}))
        store.save_model(run, model)
        store.finish_run(run, "finished")
        runs.append(run)
    return exp, runs


def tiny_flat(root: Path, n: int = 10, seed: int = 1, size: int = 32, duplicate: bool = True) -> Path:
    """A flat root/<normal|abnormal>/ set like tests.training.fakes.make_tiny_dataset's images
    (glaucoma: a bright centre), a little darker overall (another camera), plus one duplicate file."""
    rng = np.random.default_rng(seed)
    for class_dir, bright in (("normal", 0), ("abnormal", 1)):
        folder = root / class_dir
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(n):
            pixels = rng.integers(10, 80, size=(size, size, 3), dtype=np.uint8)
            if bright:
                c = size // 4
                pixels[c:-c, c:-c] = rng.integers(180, 250, size=(size - 2 * c, size - 2 * c, 3))
            Image.fromarray(pixels).save(folder / f"ext_{class_dir}_{i}.png")
    if duplicate:
        (root / "abnormal" / "copy_of_0.png").write_bytes((root / "abnormal" / "ext_abnormal_0.png").read_bytes())
    return root
