"""Serve an exported SavedModel on image files, prepared exactly as its training images were.

Fundus preparation (field of view, optic-disc crop, illumination, resolution normalisation:
:mod:`glaucoma_core.preparation`) is NumPy/OpenCV code that a SavedModel graph cannot hold. So
:func:`glaucoma_core.export.saved_model.export_saved_model` writes, beside the SavedModel,
``preparation.json``: the preparation settings of the exported runs, PREPARATION_VERSION and
the model's input side. This module reads it and prepares each file with
:func:`glaucoma_core.preparation.load_prepared_array`, the function the trainer, evaluation,
predict and the Classify page call, then runs the SavedModel's ``serving_default`` on the
prepared pixels. The same file therefore gets the same pixels here as in training.

    python -m glaucoma_core serve-export DIR IMAGE...

An export made by another PREPARATION_VERSION (the preparation code changed since) is refused:
its pixels would differ from the ones the model was trained on.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from glaucoma_core.export.saved_model import METADATA_FILE, PREPARATION_FILE, ExportError


@dataclass(frozen=True)
class ExportedPreparation:
    """What ``preparation.json`` says about an export.

    Attributes:
        settings: the :class:`glaucoma_core.preparation.PreparationSettings` of the training runs.
        input_size: the model's input side in pixels (prepared pixels are made at this size).
        version: the PREPARATION_VERSION the export was made with.
    """

    settings: object
    input_size: int
    version: str


def read_preparation(export_dir: str | os.PathLike) -> ExportedPreparation:
    """The preparation recorded in ``export_dir/preparation.json``.

    Raises ExportError when the folder is no export of this workbench, the file is damaged, or
    it was written by another PREPARATION_VERSION than the installed preparation code.
    """
    from glaucoma_core.preparation import PREPARATION_VERSION, PreparationSettings

    folder = Path(export_dir).expanduser()
    path = folder / PREPARATION_FILE
    if not (folder / "saved_model.pb").is_file():
        raise ExportError(f"{folder}: no SavedModel here (saved_model.pb is missing)")
    if not path.is_file():
        raise ExportError(f"{folder}: no {PREPARATION_FILE}; exports made before it was written take plain "
                          "decoded pixels: use the SavedModel's serve_bytes signature")
    try:
        spec = json.loads(path.read_text())
        settings = PreparationSettings(**spec["settings"])
        size = int(spec["input_size"])
        version = str(spec["preparation_version"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ExportError(f"{path}: not a readable preparation record ({exc})") from None
    if settings.prepares and version != PREPARATION_VERSION:
        raise ExportError(f"{path}: exported with preparation {version}, this workbench prepares with "
                          f"{PREPARATION_VERSION}; the pixels would differ from training. Serve it with the "
                          "workbench version that exported it, or export the run again")
    return ExportedPreparation(settings, size, version)


def prepare_files(export_dir: str | os.PathLike, paths: Sequence) -> tuple[np.ndarray, list[str | None]]:
    """The pixels the exported model takes for each file: prepared as in training.

    Args:
        export_dir: the export folder (SavedModel, export.json, preparation.json).
        paths: image files (paths or bytes).

    Returns (uint8 (N, S, S, 3) of the readable files, for each file the reason it could not
    be read, else None).
    """
    from glaucoma_core.data.images import ImageProblem
    from glaucoma_core.preparation import load_prepared_array

    spec = read_preparation(export_dir)
    arrays, problems = [], []
    for source in paths:
        try:
            arrays.append(load_prepared_array(source, spec.input_size, spec.settings))
            problems.append(None)
        except ImageProblem as exc:
            problems.append(exc.reason)
        except OSError as exc:
            problems.append(exc.strerror or str(exc))
    size = spec.input_size
    batch = np.stack(arrays) if arrays else np.zeros((0, size, size, 3), np.uint8)
    return batch, problems


def load_export(export_dir: str | os.PathLike):
    """The SavedModel of ``export_dir`` loaded with plain TensorFlow (keep the returned object
    while calling its signatures: their variables live in it)."""
    import tensorflow as tf

    folder = Path(export_dir).expanduser()
    if not (folder / "saved_model.pb").is_file():
        raise ExportError(f"{folder}: no SavedModel here (saved_model.pb is missing)")
    return tf.saved_model.load(str(folder))


def predict_files(export_dir: str | os.PathLike, paths: Sequence, *, threshold: float | None = None,
                  batch_size: int = 32, model=None) -> list[dict]:
    """P(glaucoma) of each file from the exported model, its inputs prepared as in training.

    Args:
        export_dir: the export folder.
        paths: image files (paths or bytes).
        threshold: the decision threshold; None = the one recorded in export.json (chosen on
            validation predictions when exported), else no call is made.
        batch_size: images per SavedModel call.
        model: the loaded SavedModel (:func:`load_export`), to avoid loading it again.

    Returns one dict per file: path, probability, probability_sd (over the fold models),
    prediction ('glaucoma' / 'normal', None without a threshold) and error (why the file
    could not be read, else None; then the numbers are None).
    """
    import tensorflow as tf

    from glaucoma_core.labels import CLASS_NAMES

    if threshold is None:
        threshold = _recorded_threshold(export_dir)
    batch, problems = prepare_files(export_dir, paths)
    model = model if model is not None else load_export(export_dir)
    probabilities, sds = [], []
    for start in range(0, len(batch), max(1, int(batch_size))):
        out = model.signatures["serving_default"](images=tf.constant(batch[start : start + batch_size]))
        probabilities.extend(out["probability"].numpy().tolist())
        sds.extend(out["probability_sd"].numpy().tolist())
    values = iter(zip(probabilities, sds, strict=True))
    results = []
    for source, problem in zip(paths, problems, strict=True):
        name = source if isinstance(source, (str, os.PathLike)) else "<bytes>"
        row = {"path": str(name), "probability": None, "probability_sd": None, "prediction": None, "error": problem}
        if problem is None:
            p, sd = next(values)
            row.update(probability=float(p), probability_sd=float(sd))
            if threshold is not None:
                row["prediction"] = CLASS_NAMES[1] if p >= threshold else CLASS_NAMES[0]
        results.append(row)
    return results


def _recorded_threshold(export_dir) -> float | None:
    try:
        metadata = json.loads((Path(export_dir).expanduser() / METADATA_FILE).read_text())
    except (OSError, ValueError):
        return None
    value = (metadata.get("threshold") or {}).get("threshold")
    return float(value) if value is not None else None
