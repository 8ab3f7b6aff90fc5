"""Model files of the run store: atomic saving and safe loading.

A model is written to a temporary ``.keras`` file in the destination folder, flushed to disk
and renamed over the final name (``os.replace`` is atomic on one filesystem), so a crash or a
full disk never leaves a half-written file under the final name. Loading always uses
``keras.saving.load_model(..., safe_mode=True)``: a file that would run arbitrary code (a
``Lambda`` layer) is refused.
"""

from __future__ import annotations

import importlib
import os
import uuid
import zipfile
from pathlib import Path

MODEL_FILE_NAME = "model.keras"

# Modules that register the custom (serializable) layers of our models; imported before
# loading so that Keras can find them. Missing modules are skipped.
_LAYER_MODULES = (
    "glaucoma_core.networks.layers",
    "glaucoma_core.networks.preprocessing",
    "glaucoma_core.networks.classifier",
    "glaucoma_core.networks.registry",
)


class ModelFileProblem(Exception):
    """A stored model cannot be used. ``.reason`` is short human text, ``.path`` the file."""

    def __init__(self, path: str | os.PathLike, reason: str):
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class ModelSaveError(OSError):
    """Saving a model failed (disk full, permissions...); no file was left under the final name."""


def save_model_atomic(model, path: str | os.PathLike) -> Path:
    """Write the Keras ``model`` to ``path`` (a ``.keras`` file) atomically.

    Any existing file at ``path`` stays intact unless the new one was written completely.
    Raises ModelSaveError (an OSError) saying why when writing fails.
    """
    import keras

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}.keras")
    try:
        keras.saving.save_model(model, tmp)
        _fsync_file(tmp)
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except OSError as exc:
        _remove_quietly(tmp)
        reason = exc.strerror or str(exc)
        raise ModelSaveError(exc.errno, f"could not save the model to {path}: {reason}") from exc
    except BaseException:
        _remove_quietly(tmp)
        raise
    return path


def load_model_safe(path: str | os.PathLike):
    """Load a ``.keras`` model with ``safe_mode=True``.

    Raises ModelFileProblem with a reason when the file is missing, corrupt or unsafe.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelFileProblem(path, "model file is missing")
    if path.stat().st_size == 0:
        raise ModelFileProblem(path, "model file is empty (corrupt)")
    if not zipfile.is_zipfile(path):
        raise ModelFileProblem(path, "model file is corrupt (not a .keras archive)")
    _import_layer_modules()
    import keras

    try:
        return keras.saving.load_model(path, safe_mode=True)
    except Exception as exc:  # Keras raises many types for bad files
        text = str(exc)
        if "safe_mode" in text or "Lambda" in text:
            raise ModelFileProblem(
                path, "model file is unsafe (contains a Lambda layer with code); refused by safe_mode"
            ) from exc
        first_line = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
        raise ModelFileProblem(path, f"model file is corrupt or unreadable ({first_line[:200]})") from exc


# ---------------------------------------------------------------- helpers


def _import_layer_modules() -> None:
    for name in _LAYER_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _remove_quietly(path: Path) -> None:
    try:
        path.unlink()
    except OSError:
        pass
