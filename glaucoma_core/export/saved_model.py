"""A run's model, or an experiment's fold ensemble, as a TensorFlow SavedModel for deployment.

The SavedModel holds everything between an image and P(glaucoma), so whoever serves it needs
TensorFlow alone (no workbench, no Keras custom layers): the resize the workbench applies to a
file (Pillow's bilinear, reproduced exactly by :mod:`glaucoma_core.export.pil_resize`), the
preprocessing layer every workbench model starts with, the network, and for an experiment the
mean over the fold models. Two signatures:

- ``serving_default(images)``: a uint8 tensor (N, H, W, 3) of RGB images of any one size;
- ``serve_bytes(image_bytes)``: a string tensor (N,) of encoded files (JPEG, PNG, BMP, GIF),
  decoded as the workbench decodes them (a JPEG at least twice the model side is decoded at
  reduced scale, as Pillow's ``draft`` does; ``INTEGER_ACCURATE`` DCT, as Pillow's libjpeg).

Both return ``probability`` (N,) float32 P(glaucoma), ``probability_sd`` (N,) the standard
deviation over the fold models (ddof 1, 0 for one model), and ``fold_probabilities`` (N, K).

Models trained on fundus-prepared images (:mod:`glaucoma_core.preparation`: field of view,
optic-disc crop, illumination, resolution normalisation) need that preparation, which is
NumPy/OpenCV code no SavedModel graph holds. Every export writes ``preparation.json`` beside
the SavedModel (the settings, PREPARATION_VERSION, the input side); for a prepared model
``serving_default`` takes the *prepared* pixels and there is no ``serve_bytes`` (a plain
decode would feed it other pixels than in training): serve files with
:func:`glaucoma_core.export.serving.predict_files` or ``python -m glaucoma_core serve-export``,
which prepare each file with the trainer's own :func:`~glaucoma_core.preparation.load_prepared_array`.

Limits of the bytes signature (send pixels to avoid them): the EXIF orientation is not applied,
transparent PNGs are not composited over black, 16-bit PNGs and CMYK JPEGs are converted by
TensorFlow's rules, not the workbench's.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from glaucoma_core.errors import UserError

SAVED_MODEL_FORMAT = "glaucoma-workbench-savedmodel-1"
METADATA_FILE = "export.json"
#: The preparation settings beside the SavedModel (read by glaucoma_core.export.serving).
PREPARATION_FILE = "preparation.json"
OUTPUT_NAMES = ("probability", "probability_sd", "fold_probabilities")


class ExportError(UserError):
    """A model cannot be exported (no finished run, no model file, a bad output folder)."""


def _input_size(model) -> int:
    from glaucoma_core.training.predict import model_input_size

    return int(model_input_size(model))


def build_serving_archive(models: Sequence, size: int, *, with_bytes: bool = True):
    """A ``keras.export.ExportArchive`` over ``models`` with the serving signatures.

    Args:
        models: Keras classifiers honouring the model contract (input float32 RGB 0..255 at
            ``size`` x ``size``, output column 1 = P(glaucoma)); one, or one per fold.
        size: the models' common input side.
        with_bytes: add ``serve_bytes`` (encoded files, decoded plainly); off for models
            whose inputs must be fundus-prepared first.
    """
    import keras
    import tensorflow as tf

    from glaucoma_core.export.pil_resize import pil_bilinear_resize

    models = list(models)
    archive = keras.export.ExportArchive()
    for model in models:
        archive.track(model)

    def ensemble(pixels_uint8):
        x = tf.cast(pil_bilinear_resize(pixels_uint8, size), tf.float32)
        columns = [tf.cast(model(x, training=False)[:, 1], tf.float64) for model in models]
        folds = tf.stack(columns, axis=1)
        mean = tf.reduce_mean(folds, axis=1)
        if len(models) > 1:
            sd = tf.sqrt(tf.reduce_sum(tf.square(folds - mean[:, None]), axis=1) / (len(models) - 1))
        else:
            sd = tf.zeros_like(mean)
        return {"probability": tf.cast(mean, tf.float32), "probability_sd": tf.cast(sd, tf.float32),
                "fold_probabilities": tf.cast(folds, tf.float32)}

    def decode_one(data):
        return decode_like_workbench(data, size)

    def serve_pixels(images):
        return ensemble(images)

    def serve_bytes(image_bytes):
        decoded = tf.map_fn(decode_one, image_bytes, fn_output_signature=tf.TensorSpec([size, size, 3], tf.uint8))
        return ensemble(decoded)

    archive.add_endpoint("serving_default", serve_pixels,
                         input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8, name="images")])
    if with_bytes:
        archive.add_endpoint("serve_bytes", serve_bytes,
                             input_signature=[tf.TensorSpec([None], tf.string, name="image_bytes")])
    return archive


def decode_like_workbench(data, size: int):
    """One encoded image (a scalar string tensor) -> uint8 (size, size, 3), as
    :func:`glaucoma_core.data.images.load_rgb_array` does for 8-bit RGB files."""
    import tensorflow as tf

    from glaucoma_core.export.pil_resize import pil_bilinear_resize

    def jpeg():
        shape = tf.io.extract_jpeg_shape(data)
        height, width = shape[0], shape[1]
        # Pillow's draft: the largest of 8, 4, 2, 1 not above the shrink factor, used only when
        # both sides are at least twice the target (data.images._decode).
        factor = tf.minimum(width // size, height // size)
        use_draft = tf.minimum(height, width) >= 2 * size
        branch = tf.where(~use_draft, 0, tf.where(factor >= 8, 3, tf.where(factor >= 4, 2, tf.where(factor >= 2, 1, 0))))

        def at(ratio):
            return lambda: tf.io.decode_jpeg(data, channels=3, ratio=ratio, dct_method="INTEGER_ACCURATE")

        return tf.switch_case(branch, [at(1), at(2), at(4), at(8)])

    def other():
        return tf.io.decode_image(data, channels=3, dtype=tf.uint8, expand_animations=False)

    image = tf.cond(tf.io.is_jpeg(data), jpeg, other)
    image = tf.ensure_shape(image, [None, None, 3])
    return pil_bilinear_resize(image[None], size)[0]


def outside_preparation(config) -> str:
    """'' when a model of ``config`` sees plain decoded-and-resized pixels; else the key of the
    fundus preparation (field of view, disc crop, illumination, resolution normalisation) that
    the workbench applies before the network (glaucoma_core.preparation), outside the model."""
    from glaucoma_core.preparation import PreparationSettings

    return PreparationSettings.from_config(config or {}).key()


def export_saved_model(store, run_ids: Sequence[int], out: str | os.PathLike, *, description: dict | None = None,
                       overwrite: bool = False, prepared_inputs: bool = False) -> dict:
    """Write the SavedModel of ``run_ids`` (one run, or the fold runs of an experiment) to ``out``.

    Args:
        store: the RunStore holding the runs and their model files.
        run_ids: the runs whose models are averaged (all with the same input size).
        out: the SavedModel folder to create; it must not exist or be empty, unless ``overwrite``.
        description: what the export is of (reference, experiment, threshold...), stored in
            ``out/export.json`` with the signatures and the runs.
        overwrite: replace an existing folder (written beside it, then swapped in).
        prepared_inputs: the caller will prepare the inputs itself (recorded in export.json;
            the export is the same). Models trained on fundus-prepared images are exported
            either way, with ``preparation.json`` and no ``serve_bytes`` (module docstring).

    Returns the metadata written to ``export.json``. Raises ExportError.
    """
    from glaucoma_core.store import ModelFileProblem, RunNotFound

    run_ids = [int(r) for r in run_ids]
    if not run_ids:
        raise ExportError("nothing to export: no finished run with a model")
    out = Path(out).expanduser().resolve()
    _check_out(out, overwrite)
    from glaucoma_core.preparation import PREPARATION_VERSION, PreparationSettings

    settings = {run_id: PreparationSettings.from_config(store.run(run_id)["config"] or {}) for run_id in run_ids}
    preparation = {run_id: s.key() for run_id, s in settings.items()}
    if len(set(settings.values())) > 1:
        raise ExportError(f"the fold models were trained with different image preparations ({preparation})")
    setting = next(iter(settings.values()))
    prepared = setting.active
    models = []
    for run_id in run_ids:
        try:
            models.append(store.load_model(run_id))
        except (RunNotFound, ModelFileProblem) as exc:
            raise ExportError(f"run {run_id}: {exc}") from None
    sizes = {_input_size(m) for m in models}
    if len(sizes) != 1:
        raise ExportError(f"the fold models take different input sizes ({sorted(sizes)}); they cannot be averaged")
    size = sizes.pop()
    metadata = {
        "format": SAVED_MODEL_FORMAT,
        "created_at": time.time(),
        "runs": run_ids,
        "n_models": len(models),
        "input_size": size,
        "signatures": _signatures(prepared, size),
        "output": "probability = P(glaucoma), the mean over the models; probability_sd their standard deviation",
        "input_preparation": setting.key() or None,
        "inputs_prepared_by": ("the caller (--prepared-inputs)" if prepared_inputs else
                               "glaucoma_core.export.serving (python -m glaucoma_core serve-export)") if prepared else None,
        **(description or {}),
    }
    preparation_record = {
        "preparation_version": PREPARATION_VERSION,
        "settings": setting.as_dict(),
        "key": setting.key(),
        "input_size": size,
        "prepares": prepared,
        "how": ("prepare each file with glaucoma_core.preparation.load_prepared_array(file, input_size, "
                "PreparationSettings(**settings)) and feed the uint8 result to serving_default; "
                "glaucoma_core.export.serving.predict_files(DIR, files) does both") if prepared else
               "none: serving_default takes decoded RGB pixels of any size, serve_bytes encoded files",
    }
    archive = build_serving_archive(models, size, with_bytes=not prepared)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        archive.write_out(str(staging), verbose=False)
        (staging / METADATA_FILE).write_text(json.dumps(metadata, indent=2, default=str) + "\n")
        (staging / PREPARATION_FILE).write_text(json.dumps(preparation_record, indent=2) + "\n")
        if out.exists():
            old = out.with_name(f".{out.name}-old-{os.getpid()}")
            out.rename(old)
            staging.rename(out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            staging.rename(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return metadata


def _signatures(prepared: bool, size: int) -> dict:
    """What export.json says each signature takes."""
    if prepared:
        return {"serving_default": {"input": f"images: uint8 (N, {size}, {size}, 3) RGB prepared as in training "
                                             f"(see {PREPARATION_FILE}; glaucoma_core.export.serving does it)",
                                    "outputs": list(OUTPUT_NAMES)}}
    return {
        "serving_default": {"input": "images: uint8 (N, H, W, 3) RGB, any size (resized inside, as Pillow "
                                     "bilinear)", "outputs": list(OUTPUT_NAMES)},
        "serve_bytes": {"input": "image_bytes: string (N,) encoded JPEG/PNG/BMP/GIF", "outputs": list(OUTPUT_NAMES)},
    }


def _check_out(out: Path, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise ExportError(f"{out} is a file; give a folder for the SavedModel")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise ExportError(f"{out} exists and is not empty; choose a new folder or pass --overwrite")
    parent = out.parent
    while not parent.exists():
        parent = parent.parent
    if not os.access(parent, os.W_OK):
        raise ExportError(f"{parent}: no permission to write there")
