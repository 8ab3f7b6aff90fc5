"""A run store holding a small finished cross-validation, made without training (seconds).

Each fold's model is a real workbench classifier (the cpu-small preset shrunk to 32 px, built
with a different seed per fold); its epoch curves, final metrics and per-image predictions are
recorded as the trainer records them, the predictions being that model's own probabilities on
the fold's images, so everything an export reads is consistent.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from tests.training.fakes import make_tiny_dataset, tiny_config


@dataclass
class FilledStore:
    store: object
    data: Path
    experiment_id: int
    run_ids: list
    models: dict  # run_id -> keras model


def record_fold(store, experiment_id, fold, config, data: Path, seed: int, *, epochs: int = 3):
    """Build, 'train' (record) and finish one fold run; returns (run_id, model)."""
    import keras

    from glaucoma_core.data.images import load_rgb_array
    from glaucoma_core.evaluation.metrics import classification_metrics
    from glaucoma_core.networks.classifier import build_classifier
    from glaucoma_core.training.predict import predict_probabilities

    keras.utils.set_random_seed(seed)
    model = build_classifier(config)
    run = store.create_run(experiment_id, fold, config.to_dict(), str(data))
    store.mark_running(run)
    for epoch in range(1, epochs + 1):
        store.add_epoch(run, epoch, {"loss": 1.0 / epoch + seed * 0.01, "val_loss": 1.2 / epoch, "auc": 0.5 + 0.1 * epoch,
                                     "val_auc": 0.45 + 0.1 * epoch, "lr": 0.003 / epoch, "epoch_seconds": 0.5})
    rows = []
    for split in ("valid", "test"):
        for class_dir, label in (("normal", 0), ("abnormal", 1)):
            for path in sorted((data / f"fold_{fold}" / split / class_dir).iterdir()):
                rows.append({"split": split, "path": str(path), "label": label})
    import pandas as pd

    frame = pd.DataFrame(rows)
    pixels = np.stack([load_rgb_array(p, 32) for p in frame["path"]])
    frame["probability"] = predict_probabilities(model, pixels)
    frame["sha256"] = [f"{fold}-{i}" for i in range(len(frame))]
    store.save_predictions(run, frame)
    for split in ("valid", "test"):
        part = frame[frame["split"] == split]
        values = classification_metrics(part["label"], part["probability"])
        store.save_final_metrics(run, split, {k: v for k, v in values.items()
                                              if isinstance(v, (int, float)) and not isinstance(v, bool)})
    store.save_model(run, model)
    store.finish_run(run, "finished", best_epoch=epochs, seconds=1.5)
    return run, model


@pytest.fixture(scope="session")
def filled(tmp_path_factory) -> FilledStore:
    """A store with experiment 'tiny-cv' over 2 folds of a tiny PNG dataset, both finished."""
    from glaucoma_core.data.index import dataset_fingerprint, scan_dataset
    from glaucoma_core.store import RunStore

    root = tmp_path_factory.mktemp("export")
    data = make_tiny_dataset(root / "data", folds=2)
    home = root / "home"
    store = RunStore(home)
    config = tiny_config(feature_cache=False, prepare_disc_crop="off")
    index = scan_dataset(data, use_cache=False, home=home)
    experiment = store.create_experiment("tiny-cv", config.to_dict(), str(data), dataset_fingerprint(index), [1, 2])
    runs, models = [], {}
    for fold in (1, 2):
        run, model = record_fold(store, experiment, fold, config, data, seed=fold)
        runs.append(run)
        models[run] = model
    return FilledStore(store, data, experiment, runs, models)
