"""On-disk cache of pooled backbone features, one vector per unique image.

When the backbone is frozen and there is no augmentation, a backbone maps each image to the
same features in every epoch and every fold. They are computed once and kept under
``paths.cache_dir(home)/features/<key>/``, where the key names everything the features
depend on: backbone and its options, weights identity (file hash, 'imagenet'), input size,
preprocessing, pooling, the Keras version, how images are decoded and prepared. Inside, each computation appends one
``part-*.npz`` (sha256 -> vector), written to a temporary name and renamed, so concurrent
writers and interrupted runs never leave a half file behind.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid

import numpy as np

from glaucoma_core import paths
from glaucoma_core.config import TrainConfig
from glaucoma_core.preparation.settings import PreparationSettings

_MEMORY: dict[str, dict[str, np.ndarray]] = {}
#: Images converted to float32 and run through the extractor at once when computing features.
COMPUTE_CHUNK = 256
_PARTS: dict[str, set[str]] = {}


def feature_key(config: TrainConfig) -> dict:
    """What the pooled features of ``config`` depend on (JSON-able)."""
    import keras

    from glaucoma_core.data.images import DECODE_VERSION
    from glaucoma_core.networks.registry import get_backbone
    from glaucoma_core.networks.weights import weights_identity

    spec = get_backbone(config.backbone)
    key = {
        "backbone": spec.name,
        "options": config.resolved_backbone_options(),
        "weights": weights_identity(config.weights, config.seed),
        "input_size": config.resolved_input_size(),
        "preprocess": spec.preprocess,
        "pooling": config.head_pooling,
        "keras": keras.__version__,
        "decode": DECODE_VERSION,
    }
    if config.resolution_normalisation:  # only when set: existing caches keep their keys
        key["resolution"] = int(config.resolution_normalisation)
    preparation = PreparationSettings.from_config(config)
    if preparation.prepares:  # names PREPARATION_VERSION and every step's settings
        key["preparation"] = PreparationSettings(**{**preparation.as_dict(), "resolution": None}).key()
    return key


class FeatureCache:
    """Pooled features of one (backbone, weights, size, preprocessing, pooling), by sha256.

    Args:
        key: from :func:`feature_key`.
        home: workbench home (the cache lives under ``paths.cache_dir(home)/features``).
    """

    def __init__(self, key: dict, home=None):
        self.key = key
        digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20]
        self.folder = paths.cache_dir(home) / "features" / digest
        self.id = digest
        self.computed = 0
        self.reused = 0

    def _known(self) -> dict[str, np.ndarray]:
        known = _MEMORY.setdefault(str(self.folder), {})
        if self.folder.is_dir():
            seen = _PARTS.setdefault(str(self.folder), set())
            for part in sorted(self.folder.glob("part-*.npz")):
                if part.name in seen:
                    continue
                try:
                    with np.load(part) as data:
                        for sha in data.files:
                            known[sha] = data[sha]
                    seen.add(part.name)
                except (OSError, ValueError):
                    continue  # a damaged part only costs recomputation
        return known

    def _write(self, new: dict[str, np.ndarray]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        meta = self.folder / "key.json"
        if not meta.exists():
            tmp = meta.with_name(f".key-{uuid.uuid4().hex}.json")
            tmp.write_text(json.dumps(self.key, indent=2, sort_keys=True))
            os.replace(tmp, meta)
        name = f"part-{uuid.uuid4().hex}.npz"
        tmp = self.folder / f".tmp-{name}"
        with open(tmp, "wb") as handle:
            np.savez(handle, **new)
        os.replace(tmp, self.folder / name)
        _PARTS.setdefault(str(self.folder), set()).add(name)

    def features_of_rows(self, extractor, frame, decode, batch_size: int = 32):
        """Features of the index rows ``frame``, decoding only the images not in the cache.

        Args:
            extractor: Keras model raw pixels -> pooled features.
            frame: index rows (columns path, sha256, label, ...).
            decode: rows -> ``data.pipeline.LoadedImages`` (the trainer's decode and
                preparation); called on at most :data:`COMPUTE_CHUNK` distinct images at a time,
                so memory holds one chunk of decoded images whatever the dataset's size.
            batch_size: images per forward pass when computing.

        Returns (rows, features, problems): the rows whose features exist (index reset, in
        order), a float32 (n, d) array, and {path: reason} for rows whose image did not
        decode (every row of that content). A cached image decoded before with the same
        content and settings, so it is never decoded again.
        """
        known = self._known()
        shas = frame["sha256"].astype(str)
        cached = shas.isin(set(known)).to_numpy()
        missing = frame[~cached].drop_duplicates("sha256")
        failed: dict[str, str] = {}  # sha256 -> why it did not decode
        for start in range(0, len(missing), COMPUTE_CHUNK):
            chunk = missing.iloc[start : start + COMPUTE_CHUNK]
            loaded = decode(chunk)
            sha_of = dict(zip(chunk["path"].astype(str), chunk["sha256"].astype(str), strict=True))
            failed.update((sha_of[path], reason) for path, reason in loaded.problems.items() if path in sha_of)
            if len(loaded.frame):
                self.features(extractor, loaded.frame["sha256"].astype(str).tolist(), loaded.images, batch_size)
        self.reused += int(cached.sum())
        keep = ~shas.isin(set(failed)).to_numpy()
        problems = {str(path): failed[sha] for path, sha in zip(frame["path"], shas, strict=True) if sha in failed}
        rows = frame[keep].reset_index(drop=True)
        if rows.empty:
            return rows, np.zeros((0, 0), np.float32), problems
        return rows, np.stack([known[sha] for sha in rows["sha256"].astype(str)]).astype(np.float32), problems

    def features(self, extractor, shas: list[str], images: np.ndarray, batch_size: int = 32) -> np.ndarray:
        """Features of these images (uint8 (n, S, S, 3), one sha256 each), computing the missing ones.

        Args:
            extractor: Keras model raw pixels -> pooled features.
            shas: content hash of each image (the cache key of its row).
            images: the decoded images, same order as ``shas``.
            batch_size: images per forward pass when computing.
        """
        known = self._known()
        missing = [i for i, sha in enumerate(shas) if sha not in known]
        if missing:
            order = list(dict.fromkeys(shas[i] for i in missing))
            first = {sha: i for i, sha in reversed(list(enumerate(shas)))}
            new = {}
            # float32 copies of COMPUTE_CHUNK images at a time, not of all missing ones (a
            # 10,000-image fold at 224 px would need 6 GB at once)
            for start in range(0, len(order), COMPUTE_CHUNK):
                chunk = order[start : start + COMPUTE_CHUNK]
                batch = images[[first[sha] for sha in chunk]].astype(np.float32)
                out = extractor.predict(batch, batch_size=batch_size, verbose=0).astype(np.float32)
                new.update((sha, out[j]) for j, sha in enumerate(chunk))
            known.update(new)
            try:
                self._write(new)
            except OSError:
                pass  # disk full or read-only: features still serve this process
            self.computed += len(order)
        self.reused += len(shas) - len(missing)
        if not shas:
            return np.zeros((0, 0), np.float32)
        return np.stack([known[sha] for sha in shas]).astype(np.float32)


def clear_memory() -> None:
    """Forget the in-process copy of every feature cache (the files stay)."""
    _MEMORY.clear()
    _PARTS.clear()
