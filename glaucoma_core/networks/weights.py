"""Loading backbone weights: ImageNet through Keras' cache, or a local weights file.

Our machines are offline, and Keras cannot download ImageNet weights there. When it tries
and fails, :class:`WeightsError` names the file Keras wanted, where Keras looks for it, and
the two ways out. A weights file of another network is refused with the reason.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import warnings
from pathlib import Path

from glaucoma_core.errors import ConfigError


class WeightsError(ConfigError):
    """The weights setting cannot be honoured (``field`` is always ``"weights"``)."""

    def __init__(self, message: str):
        super().__init__("weights", message)


def keras_models_dir() -> Path:
    """Where Keras caches downloaded weights: ``$KERAS_HOME/models`` (default ``~/.keras/models``).

    Keras reads KERAS_HOME once, when it is imported; this asks Keras for the folder it uses.
    """
    try:
        from keras.src.backend import config

        base = config.keras_home()
    except (ImportError, AttributeError):
        base = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(os.path.expanduser(base)) / "models"


def file_sha256(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def weights_identity(weights: str, seed: int) -> str:
    """A short string naming the weights for cache keys: 'imagenet', 'none-seed<N>', 'file-<sha>'."""
    kind = str(weights).lower()
    if kind == "imagenet":
        return "imagenet"
    if kind == "none":
        return f"none-seed{seed}"
    return "file-" + file_sha256(weights)[:16]


def load_weights_file(model, path: str | os.PathLike) -> None:
    """Load a weights file into ``model``; any partial or mismatched load raises ValueError."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.load_weights(str(path))
    problems = [str(w.message) for w in caught if "load" in str(w.message).lower() or "skipping" in str(w.message).lower()]
    if problems:
        raise ValueError(problems[0])


def _offline_message(spec_name: str, error: Exception) -> str:
    text = str(error)
    match = re.search(r"https?://\S+?\.h5", text)
    url = match.group(0) if match else None
    wanted = url.rsplit("/", 1)[-1] if url else "(the ImageNet weights file of this network)"
    cache = keras_models_dir() / (wanted if url else "")
    lines = [
        f"could not get the ImageNet weights of {spec_name}: Keras wanted the file {wanted}"
        + (f" from {url}" if url else "")
        + f" and this machine could not download it ({text.splitlines()[0][:200] if text else type(error).__name__}).",
        "Two ways out:",
        f"  1. put the file into the Keras cache: {cache}",
        "     (KERAS_HOME moves the cache; the file name must be exactly as above);",
        "  2. give the file directly: weights=/path/to/file (e.g. --set weights=/path/to/file.h5).",
    ]
    return "\n".join(lines)


def build_reference_backbone(spec, input_size: int, weights, options: dict):
    """Build the backbone alone on a bare input and load ``weights`` into it.

    Raises WeightsError when ImageNet weights cannot be obtained or the file does not fit.
    """
    import keras

    tensor = keras.Input((input_size, input_size, 3))
    if weights == "imagenet":
        if not spec.imagenet:
            raise WeightsError(
                f"backbone {spec.name!r} has no ImageNet weights; use weights=none or a weights file"
            )
        try:
            with warnings.catch_warnings():
                # Keras notes it loads the 224 px file for other sizes: the weights do not depend on it.
                warnings.filterwarnings("ignore", message=".*input_shape.*", category=UserWarning)
                return spec.constructor(tensor, "imagenet", **options)
        except Exception as error:  # noqa: BLE001 - Keras raises bare Exception on fetch failure
            if "fetch failure" in str(error) or isinstance(error, OSError) or "URL" in str(error):
                raise WeightsError(_offline_message(spec.name, error)) from error
            raise
    path = Path(weights).expanduser()
    if not path.is_file():
        raise WeightsError(f"weights file not found: {path}")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model = spec.constructor(tensor, str(path), **options)
        problems = [str(w.message) for w in caught if "skipping" in str(w.message).lower()]
        if problems:
            raise ValueError(problems[0])
        return model
    except WeightsError:
        raise
    except Exception as error:  # noqa: BLE001 - h5py/Keras raise many kinds
        reason = str(error).strip().splitlines()[0][:300] if str(error).strip() else type(error).__name__
        described = spec.name + "".join(f" {k}={v}" for k, v in options.items())
        raise WeightsError(
            f"{path} is not a weights file of {described} at {input_size} px: {reason}"
        ) from error


# Reference backbone weights kept in memory between folds of one process (a CV run builds the
# same backbone with the same weights ten times): key -> per-weighted-layer weight arrays.
_REFERENCE_WEIGHTS: dict[tuple, list] = {}
_REFERENCE_CACHE_SIZE = 2


def _reference_key(spec, input_size: int, weights, options: dict) -> tuple:
    import json

    if weights == "imagenet":
        identity = ("imagenet",)
    else:
        path = Path(weights).expanduser()
        try:
            stat = path.stat()
        except OSError:
            return ()  # missing file: no caching, the build raises the reason
        identity = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    return (spec.name, int(input_size), json.dumps(options, sort_keys=True, default=str), identity)


@contextlib.contextmanager
def _random_state_kept():
    """Leave Python's, NumPy's and Keras' global random state as they were.

    Building the reference draws random initial values (then overwritten by the loaded
    weights); whether it is built or served from memory must not change what the model built
    afterwards (the head's initial weights) draws.
    """
    import random

    import numpy as np
    from keras.src.backend.common import global_state

    python_state, numpy_state = random.getstate(), np.random.get_state()
    generator = global_state.get_global_attribute("global_seed_generator")
    generator_state = generator.state.numpy() if generator is not None else None
    try:
        yield
    finally:
        random.setstate(python_state)
        np.random.set_state(numpy_state)
        if generator is not None:
            generator.state.assign(generator_state)
        global_state.set_global_attribute("global_seed_generator", generator)


def reference_weights(spec, input_size: int, weights, options: dict) -> list:
    """Weights of the reference backbone (see :func:`build_reference_backbone`), one list of
    arrays per weighted layer, in layer order; cached in memory per (backbone, size, options,
    weights file path + size + mtime) so the folds of one run build the reference once.

    Raises WeightsError as :func:`build_reference_backbone` does.
    """
    key = _reference_key(spec, input_size, weights, options)
    if key and key in _REFERENCE_WEIGHTS:
        return _REFERENCE_WEIGHTS[key]
    with _random_state_kept():
        reference = build_reference_backbone(spec, input_size, weights, options)
    arrays = [layer.get_weights() for layer in reference.layers if layer.weights]
    del reference
    if key:
        while len(_REFERENCE_WEIGHTS) >= _REFERENCE_CACHE_SIZE:
            _REFERENCE_WEIGHTS.pop(next(iter(_REFERENCE_WEIGHTS)))
        _REFERENCE_WEIGHTS[key] = arrays
    return arrays


def clear_reference_weights() -> None:
    """Forget the in-memory reference backbone weights."""
    _REFERENCE_WEIGHTS.clear()


def set_backbone_weights(arrays: list, target_layers) -> None:
    """Set weights from :func:`reference_weights` into ``target_layers`` (same constructor)."""
    dst = [layer for layer in target_layers if layer.weights]
    if len(arrays) != len(dst):
        raise WeightsError(f"layer count mismatch ({len(arrays)} vs {len(dst)}) while copying backbone weights")
    for values, layer in zip(arrays, dst, strict=True):
        layer.set_weights(values)


def check_weights_file(spec, input_size: int, weights: str, options: dict) -> None:
    """Raise WeightsError when ``weights`` (a file path) cannot load into that backbone.

    Args:
        spec: the backbone's :class:`~glaucoma_core.networks.backbone_spec.BackboneSpec`.
        input_size: input side in pixels.
        weights: path of the weights file.
        options: the backbone options given (the spec's defaults fill the rest).
    """
    # Through the in-memory cache: the training that follows a validation reuses the weights.
    reference_weights(spec, input_size, weights, {**spec.options, **options})
