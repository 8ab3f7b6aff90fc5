"""Each run's per-epoch scalars as TensorBoard event files, so ``tensorboard --logdir <home>`` works.

For run N the store's epoch table becomes ``<home>/runs/N/tensorboard/train/`` (training metrics,
learning rate, epoch time) and ``.../validation/`` (the ``val_*`` metrics under the same tag, so
TensorBoard draws training and validation in one chart, as Keras' own callback lays them out).
Tags are ``epoch_<metric>``, steps are epochs (1-based, as the store counts them).

Idempotent: each folder holds one event file of a fixed name, rewritten whole (written beside it,
then renamed) on every export, so exporting twice never doubles a curve.
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path

EVENT_FILE_NAME = "events.out.tfevents.glaucoma-workbench.v2"
TENSORBOARD_DIR = "tensorboard"
SKIP_COLUMNS = {"run_id", "fold", "epoch", "recorded_at"}


def split_scalars(row: dict) -> dict[str, dict[str, float]]:
    """One epoch row -> {"train": {tag: value}, "validation": {tag: value}} (finite values only)."""
    out: dict[str, dict[str, float]] = {"train": {}, "validation": {}}
    for key, value in row.items():
        if key in SKIP_COLUMNS:
            continue
        try:
            number = float(value)
        except (TypeError, ValueError):
            continue
        if not math.isfinite(number):
            continue
        if key.startswith("val_"):
            out["validation"][f"epoch_{key[4:]}"] = number
        elif key == "lr":
            out["train"]["epoch_learning_rate"] = number  # Keras' TensorBoard callback's name
        else:
            out["train"][key if key.startswith("epoch_") else f"epoch_{key}"] = number
    return out


def scalar_metadata() -> bytes:
    """The SummaryMetadata that marks a summary as a scalar for TensorBoard's scalars plugin."""
    from tensorflow.core.framework.summary_pb2 import SummaryMetadata

    metadata = SummaryMetadata()
    metadata.plugin_data.plugin_name = "scalars"
    return metadata.SerializeToString()


def export_run_tensorboard(store, run_id: int) -> list[Path]:
    """Write run ``run_id``'s epoch scalars as event files; returns the files written.

    A run without recorded epochs writes nothing (and removes an earlier export of it).
    """
    import tensorflow as tf

    epochs = store.epochs([int(run_id)])
    base = store.run_dir(int(run_id)) / TENSORBOARD_DIR
    by_writer: dict[str, list[tuple[int, dict[str, float]]]] = {"train": [], "validation": []}
    for row in epochs.sort_values("epoch").to_dict(orient="records"):
        for name, scalars in split_scalars(row).items():
            if scalars:
                by_writer[name].append((int(row["epoch"]), scalars))
    written = []
    for name, steps in by_writer.items():
        folder = base / name
        target = folder / EVENT_FILE_NAME
        if not steps:
            target.unlink(missing_ok=True)
            continue
        folder.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".tb-", dir=folder))
        try:
            writer = tf.summary.create_file_writer(str(staging), filename_suffix=".glaucoma")
            metadata = scalar_metadata()
            with writer.as_default():
                for step, scalars in steps:
                    for tag, value in sorted(scalars.items()):
                        # tf.summary.scalar needs the tensorboard package; the same record with
                        # TensorFlow's own op and the scalar plugin's metadata does not.
                        tf.summary.write(tag, tf.constant(value, tf.float32), step=step, metadata=metadata)
            writer.flush()
            writer.close()
            (produced,) = [p for p in staging.iterdir() if "tfevents" in p.name]
            os.replace(produced, target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        written.append(target)
    return written


def export_tensorboard(store, run_ids: Iterable[int]) -> dict[int, list[Path]]:
    """:func:`export_run_tensorboard` for each run; returns {run_id: files}."""
    return {int(r): export_run_tensorboard(store, int(r)) for r in run_ids}


def read_scalars(event_file: str | os.PathLike) -> dict[str, list[tuple[int, float]]]:
    """The scalars of one event file: {tag: [(step, value), ...]} (for tests and checks)."""
    import tensorflow as tf
    from tensorflow.core.util.event_pb2 import Event

    out: dict[str, list[tuple[int, float]]] = {}
    for record in tf.data.TFRecordDataset(str(event_file)):
        event = Event.FromString(record.numpy())
        for value in event.summary.value:
            number = float(tf.make_ndarray(value.tensor)) if value.HasField("tensor") else float(value.simple_value)
            out.setdefault(value.tag, []).append((int(event.step), number))
    return out
