"""Features are computed a chunk of images at a time (bounded memory), with the same numbers."""

from __future__ import annotations

import numpy as np


def _extractor():
    import keras

    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3)(inputs)
    outputs = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, outputs)


def test_chunked_features_equal_one_pass_and_are_cached(tmp_path, monkeypatch):
    from glaucoma_core.training import feature_cache

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (11, 8, 8, 3), dtype=np.uint8)
    images[10] = images[3]  # same content, same sha256
    shas = [f"sha{i}" for i in range(10)] + ["sha3"]  # a repeat is computed once
    extractor = _extractor()
    expected = extractor.predict(images.astype(np.float32), verbose=0)

    calls = []
    original = extractor.predict

    def counting(batch, **kwargs):
        calls.append(len(batch))
        return original(batch, **kwargs)

    monkeypatch.setattr(extractor, "predict", counting)
    monkeypatch.setattr(feature_cache, "COMPUTE_CHUNK", 4)
    feature_cache.clear_memory()
    cache = feature_cache.FeatureCache({"test": "chunks"}, home=tmp_path)
    out = cache.features(extractor, shas, images)
    assert calls == [4, 4, 2]  # 10 distinct images, at most 4 converted to float32 at once
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)
    assert cache.computed == 10

    feature_cache.clear_memory()  # a new process: read back from disk, nothing computed
    again = feature_cache.FeatureCache({"test": "chunks"}, home=tmp_path)
    np.testing.assert_allclose(again.features(extractor, shas, images), out)
    assert again.computed == 0 and calls == [4, 4, 2]
