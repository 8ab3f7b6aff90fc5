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
