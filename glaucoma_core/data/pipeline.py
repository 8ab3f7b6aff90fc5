"""The tf.data input pipeline, fed from the dataset index.

Rows of the index go in; batches of (float32 RGB 0..255 at S x S, one-hot label) come out.
Decoding goes through :func:`glaucoma_core.preparation.load_prepared_array` (which reads
through :mod:`glaucoma_core.data.images`, so broken files are treated as everywhere else, and
applies the config's fundus preparation and resolution normalisation), and through an
in-process cache keyed by (sha256, size, preparation key): the ten folds of a cross-validation
share their images, so each image is decoded and prepared once per process.
Rows the index flagged (``problem != ''``) and files that fail to decode are skipped and
counted. Preprocessing (backbone normalisation) happens inside the model, not here.

Importing this module does not import TensorFlow; :func:`make_dataset` does.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict, deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from glaucoma_core.data.images import ImageProblem

DEFAULT_CACHE_MB = int(os.environ.get("GLAUCOMA_IMAGE_CACHE_MB", "2048"))


class DecodedImageCache:
    """Thread-safe LRU of decoded images keyed by (sha256, size[, preparation key]), bounded in bytes.

    Args:
        max_bytes: evict least recently used images beyond this many bytes.
    """

    def __init__(self, max_bytes: int = DEFAULT_CACHE_MB * 1024 * 1024):
        self.max_bytes = int(max_bytes)
        self._items: OrderedDict[tuple, np.ndarray] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: tuple) -> np.ndarray | None:
        with self._lock:
            array = self._items.get(key)
            if array is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return array

    def put(self, key: tuple, array: np.ndarray) -> None:
        with self._lock:
            if key in self._items:
                return
            self._items[key] = array
            self._bytes += array.nbytes
            while self._bytes > self.max_bytes and len(self._items) > 1:
                _, old = self._items.popitem(last=False)
                self._bytes -= old.nbytes

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0
            self.hits = self.misses = 0

    def __len__(self) -> int:
        return len(self._items)


IMAGE_CACHE = DecodedImageCache()
"""The process-wide decoded-image cache shared by every fold trained in this process."""


def decode_image(path: str, sha256: str, size: int, cache: DecodedImageCache | None = IMAGE_CACHE,
                 resolution: int | None = None, preparation=None) -> np.ndarray:
    """The image at ``path`` as the model sees it, uint8 (size, size, 3), from the cache when
    its content was seen with the same preparation.

    preparation: the fundus preparation (a TrainConfig, a stored config dict or
    :class:`glaucoma_core.preparation.PreparationSettings`; None = none); its
    ``resolution_normalisation`` applies too. resolution: an effective resolution
    (:func:`glaucoma_core.data.resolution.normalise_resolution`) when ``preparation`` does
    not set one. Raises ImageProblem when the file cannot be used.
    """
    import dataclasses

    from glaucoma_core.preparation import PreparationSettings, load_prepared_array

    settings = PreparationSettings.from_config(preparation)
    if resolution and not settings.resolution:
        settings = dataclasses.replace(settings, resolution=int(resolution))
    return load_prepared_array(path, int(size), settings, sha256=str(sha256) if sha256 else None,
                               cache=cache if sha256 else None)


@dataclass
class LoadedImages:
    """Images of some index rows, decoded.

    Attributes:
        frame: the rows that decoded (index reset), same order as ``images``.
        images: uint8 array (n, size, size, 3).
        problems: {path: reason} of rows that did not decode.
    """

    frame: pd.DataFrame
    images: np.ndarray
    problems: dict = field(default_factory=dict)


def load_images(frame: pd.DataFrame, size: int, *, workers: int | None = None,
                cache: DecodedImageCache | None = IMAGE_CACHE, resolution: int | None = None,
                preparation=None) -> LoadedImages:
    """Decode (and prepare) the images of ``frame`` (columns path, sha256) in parallel threads.

    Rows whose file cannot be decoded are left out and reported in ``problems``.
    ``resolution``, ``preparation``: see :func:`decode_image` (pass the TrainConfig as
    ``preparation`` to prepare as training does).
    """
    paths = frame["path"].astype(str).tolist()
    shas = frame["sha256"].astype(str).tolist() if "sha256" in frame else [""] * len(paths)

    def one(i: int):
        try:
            return decode_image(paths[i], shas[i], size, cache, resolution, preparation)
        except ImageProblem as problem:
            return problem.reason
        except OSError as error:
            return f"cannot read: {error.strerror or error}"

    # One decode per distinct content (sha256), in parallel threads: Pillow releases the GIL
    # while it decodes and resizes. Each image goes straight into the output array as it comes
    # (no list of decoded arrays beside it: peak memory is the output, not twice that).
    first: dict[str, int] = {}
    owner = [first.setdefault(sha, i) if sha else i for i, sha in enumerate(shas)]
    unique = sorted(set(owner))
    copies: dict[int, list[int]] = {}
    for i, o in enumerate(owner):
        copies.setdefault(o, []).append(i)
    images = np.empty((len(paths), size, size, 3), np.uint8)
    problems: dict[str, str] = {}
    bad: list[int] = []
    n_workers = max(1, workers or min(8, (os.cpu_count() or 1) * 2))
    pending: deque = deque()  # (row, future), in row order

    def take() -> None:
        row, future = pending.popleft()
        result = future.result()
        for i in copies[row]:
            if isinstance(result, str):
                problems[paths[i]] = result
                bad.append(i)
            else:
                images[i] = result

    with ThreadPoolExecutor(max_workers=n_workers) as pool:
        # at most 2 x workers decoded images wait to be copied (pool.map lets them pile up)
        for row in unique:
            pending.append((row, pool.submit(one, row)))
            if len(pending) >= 2 * n_workers:
                take()
        while pending:
            take()
    if not bad:
        return LoadedImages(frame.reset_index(drop=True), images, problems)
    keep = np.setdiff1d(np.arange(len(paths)), bad)
    return LoadedImages(frame.iloc[keep].reset_index(drop=True), images[keep], problems)


@dataclass
class FoldSplits:
    """The usable rows of one fold, by split, and how many rows were skipped.

    Attributes:
        train, valid, test: index rows (may be empty for test).
        skipped: rows of the fold flagged unusable by the index (problem != '').
        skipped_paths: {path: problem} of those rows.
    """

    train: pd.DataFrame
    valid: pd.DataFrame
    test: pd.DataFrame
    skipped: int = 0
    skipped_paths: dict = field(default_factory=dict)


def fold_splits(index: pd.DataFrame, fold: int | None, *, seed: int = 0, valid_fraction: float = 0.1) -> FoldSplits:
    """Select fold ``fold`` of the index and split it into train / valid / test.

    Args:
        index: the dataset index (contract columns path, sha256, fold, split, label, problem).
        fold: the fold number; None for a flat index (then rows' ``split`` decides; rows
            without a split are training rows).
        seed: for carving a validation set out of training when the fold has none.
        valid_fraction: the part of training held out in that case (stratified by label).
    """
    rows = index
    if fold is not None:
        if "fold" not in index or not (index["fold"] == fold).fillna(False).any():
            raise ValueError(f"fold {fold} is not in the dataset (folds: {sorted(set(index['fold'].dropna().astype(int)))})")
        rows = index[(index["fold"] == fold).fillna(False)]
    problem = rows["problem"].fillna("").astype(str) if "problem" in rows else pd.Series("", index=rows.index)
    bad = rows[problem != ""]
    good = rows[problem == ""].copy()
    split = good["split"].fillna("train").astype(str) if "split" in good else pd.Series("train", index=good.index)
    train, valid, test = (good[split == s].reset_index(drop=True) for s in ("train", "valid", "test"))
    if valid.empty and len(train) >= 4:
        rng = np.random.default_rng(seed)
        held = []
        for label in (0, 1):
            members = np.flatnonzero(train["label"].to_numpy() == label)
            n = int(round(len(members) * valid_fraction))
            if len(members) > 1:
                held.extend(rng.choice(members, size=max(1, n), replace=False).tolist())
        mask = np.zeros(len(train), bool)
        mask[held] = True
        valid = train[mask].reset_index(drop=True)
        train = train[~mask].reset_index(drop=True)
    return FoldSplits(train, valid, test, len(bad), dict(zip(bad["path"].astype(str), bad["problem"].astype(str), strict=True)))


def one_hot(labels) -> np.ndarray:
    """(n, 2) float32 one-hot of 0/1 labels; column 1 = glaucoma."""
    labels = np.asarray(labels, dtype=np.int64)
    out = np.zeros((len(labels), 2), np.float32)
    out[np.arange(len(labels)), labels] = 1.0
    return out


def augmentation_layer(config, seed: int | None = None):
    """A Keras Sequential of the config's random augmentations, or None when all are off.

    Works on float 0..255 batches: flips, rotation (``augment_rotation`` degrees), zoom,
    brightness and contrast (fractions).
    """
    import keras

    seed = config.seed if seed is None else seed
    steps = []
    flip = {(True, False): "horizontal", (False, True): "vertical", (True, True): "horizontal_and_vertical"}
    mode = flip.get((bool(config.augment_hflip), bool(config.augment_vflip)))
    if mode:
        steps.append(keras.layers.RandomFlip(mode, seed=seed))
    if config.augment_rotation:
        steps.append(keras.layers.RandomRotation(float(config.augment_rotation) / 360.0, fill_mode="constant", seed=seed + 1))
    if config.augment_zoom:
        z = float(config.augment_zoom)
        steps.append(keras.layers.RandomZoom((-z, z), fill_mode="constant", seed=seed + 2))
    if config.augment_brightness:
        steps.append(keras.layers.RandomBrightness(float(config.augment_brightness), value_range=(0, 255), seed=seed + 3))
    if config.augment_contrast:
        steps.append(keras.layers.RandomContrast(float(config.augment_contrast), value_range=(0, 255), seed=seed + 4))
    return keras.Sequential(steps, name="augmentation") if steps else None


def make_dataset(frame: pd.DataFrame, size: int, batch_size: int, *, shuffle: bool = False, seed: int = 0,
                 augment=None, cache: DecodedImageCache | None = IMAGE_CACHE, num_parallel_calls=None,
                 images: np.ndarray | None = None, preparation=None):
    """A tf.data.Dataset of (images float32 (b, size, size, 3) in 0..255, one-hot labels (b, 2)).

    Args:
        frame: index rows (path, sha256, label) already known to decode (see :func:`load_images`).
        size: side of the square images.
        batch_size: images per batch (the last batch may be smaller).
        shuffle: reshuffle every epoch (seeded by ``seed``).
        seed: shuffle seed.
        augment: a callable applied to each batch in training mode (e.g. :func:`augmentation_layer`).
        cache: decoded-image cache; decoding happens in parallel map calls on a miss.
        num_parallel_calls: map parallelism (default tf.data.AUTOTUNE).
        images: the rows' decoded images, uint8 (n, size, size, 3) in ``frame`` order (e.g.
            ``load_images(frame, size).images``); then batches are gathered from this array
            in the graph (no Python call per image) and ``cache`` is not used. Same batches,
            same shuffle order as decoding through the cache.
        preparation: the config (or PreparationSettings) whose fundus preparation decoding applies.
    """
    import tensorflow as tf

    if images is not None:
        return _array_image_dataset(frame, images, size, batch_size, shuffle=shuffle, seed=seed,
                                    augment=augment, parallel=num_parallel_calls or tf.data.AUTOTUNE)

    paths = frame["path"].astype(str).to_numpy()
    shas = frame["sha256"].astype(str).to_numpy() if "sha256" in frame else np.array([""] * len(frame))
    labels = one_hot(frame["label"].to_numpy())
    parallel = num_parallel_calls or tf.data.AUTOTUNE

    def _decode(path, sha):
        return decode_image(path.decode(), sha.decode(), size, cache, None, preparation)

    def _load(path, sha, label):
        image = tf.numpy_function(_decode, [path, sha], tf.uint8, stateful=False)
        image = tf.ensure_shape(image, (size, size, 3))
        return tf.cast(image, tf.float32), label

    dataset = tf.data.Dataset.from_tensor_slices((paths, shas, labels))
    if shuffle:
        dataset = dataset.shuffle(max(1, len(frame)), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.map(_load, num_parallel_calls=parallel, deterministic=True)
    dataset = dataset.batch(int(batch_size))
    if augment is not None:
        dataset = dataset.map(lambda x, y: (augment(x, training=True), y), num_parallel_calls=parallel)
    return dataset.prefetch(tf.data.AUTOTUNE)


def _array_image_dataset(frame, images, size, batch_size, *, shuffle, seed, augment, parallel):
    import tensorflow as tf

    images = np.asarray(images)
    if images.shape[1:] != (size, size, 3) or len(images) != len(frame):
        raise ValueError(f"images of shape {images.shape} do not match {len(frame)} rows at {size} px")
    pixels = tf.convert_to_tensor(images, dtype=tf.uint8)
    labels = tf.convert_to_tensor(one_hot(frame["label"].to_numpy()))
    # Shuffle row numbers (the same permutation as shuffling the rows themselves), then gather
    # each batch from the in-memory arrays.
    dataset = tf.data.Dataset.range(len(frame))
    if shuffle:
        dataset = dataset.shuffle(max(1, len(frame)), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(int(batch_size)).map(
        lambda rows: (tf.cast(tf.gather(pixels, rows), tf.float32), tf.gather(labels, rows)),
        num_parallel_calls=parallel, deterministic=True)
    if augment is not None:
        dataset = dataset.map(lambda x, y: (augment(x, training=True), y), num_parallel_calls=parallel)
    return dataset.prefetch(tf.data.AUTOTUNE)


def array_dataset(features: np.ndarray, labels, batch_size: int, *, shuffle: bool = False, seed: int = 0):
    """A tf.data.Dataset over in-memory arrays (e.g. cached backbone features) and one-hot labels."""
    import tensorflow as tf

    dataset = tf.data.Dataset.from_tensor_slices((features.astype(np.float32), one_hot(labels)))
    if shuffle:
        dataset = dataset.shuffle(max(1, len(features)), seed=seed, reshuffle_each_iteration=True)
    return dataset.batch(int(batch_size)).prefetch(tf.data.AUTOTUNE)
