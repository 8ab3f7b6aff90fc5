"""TensorBoard event files from the store's epoch table, read back with TensorFlow."""

from __future__ import annotations

import pytest

from glaucoma_core.export.tensorboard_export import (
    EVENT_FILE_NAME,
    export_run_tensorboard,
    read_scalars,
    split_scalars,
)


def test_split_scalars_pairs_training_and_validation():
    row = {"run_id": 1, "fold": 1, "epoch": 2, "recorded_at": 5.0, "loss": 0.5, "val_loss": 0.7, "lr": 0.01,
           "epoch_seconds": 1.5, "val_auc": float("nan"), "note": "text"}
    assert split_scalars(row) == {"train": {"epoch_loss": 0.5, "epoch_learning_rate": 0.01, "epoch_seconds": 1.5},
                                  "validation": {"epoch_loss": 0.7}}


def test_event_files_hold_the_epoch_curves_and_are_rewritten(filled):
    store, run = filled.store, filled.run_ids[0]
    files = export_run_tensorboard(store, run)
    folder = store.run_dir(run) / "tensorboard"
    assert files == [folder / "train" / EVENT_FILE_NAME, folder / "validation" / EVENT_FILE_NAME]
    epochs = store.epochs([run])
    train, valid = read_scalars(files[0]), read_scalars(files[1])
    assert train["epoch_loss"] == [(int(e), pytest.approx(v, rel=1e-6)) for e, v in zip(epochs.epoch, epochs.loss, strict=True)]
    assert valid["epoch_loss"] == [(int(e), pytest.approx(v, rel=1e-6)) for e, v in zip(epochs.epoch, epochs.val_loss, strict=True)]
    assert set(valid) == {"epoch_loss", "epoch_auc"} and "epoch_learning_rate" in train
    # a second export replaces the file: one file per folder, the same points, not twice as many
    export_run_tensorboard(store, run)
    assert [p.name for p in (folder / "train").iterdir()] == [EVENT_FILE_NAME]
    assert read_scalars(files[0]) == train


def test_scalars_are_marked_for_the_scalars_plugin(filled):
    import tensorflow as tf
    from tensorflow.core.util.event_pb2 import Event

    (train, _) = export_run_tensorboard(filled.store, filled.run_ids[1])
    plugins = {value.metadata.plugin_data.plugin_name
               for record in tf.data.TFRecordDataset(str(train))
               for value in Event.FromString(record.numpy()).summary.value if value.HasField("metadata")}
    assert plugins == {"scalars"}


def test_run_without_epochs_writes_nothing(filled, tmp_path):
    from glaucoma_core.store import RunStore

    store = RunStore(tmp_path)
    run = store.create_run(None, 1, {}, "/data")
    assert export_run_tensorboard(store, run) == []
