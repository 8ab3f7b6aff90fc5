"""Features of index rows: only images without cached features are decoded, a chunk at a time."""

from __future__ import annotations

import numpy as np
import pandas as pd

from glaucoma_core.data.pipeline import LoadedImages


def _extractor():
    import keras

    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 3))
    outputs = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3)(inputs))
    return keras.Model(inputs, outputs)


def _rows(n: int) -> pd.DataFrame:
    shas = [f"sha{i}" for i in range(n)]
    return pd.DataFrame({"path": [f"/data/img{i}.png" for i in range(n)], "sha256": shas,
                         "label": [i % 2 for i in range(n)]})


def _decoder(pixels: dict[str, np.ndarray], broken: set[str], calls: list):
    def decode(rows: pd.DataFrame) -> LoadedImages:
        calls.append(rows["sha256"].tolist())
        good = rows[~rows["sha256"].isin(broken)].reset_index(drop=True)
        problems = {p: "cannot decode" for p, s in zip(rows["path"], rows["sha256"], strict=True) if s in broken}
        images = np.stack([pixels[s] for s in good["sha256"]]) if len(good) else np.zeros((0, 8, 8, 3), np.uint8)
        return LoadedImages(good, images, problems)

    return decode


def test_cached_images_are_never_decoded_and_chunks_are_bounded(tmp_path, monkeypatch):
    from glaucoma_core.training import feature_cache

    rng = np.random.default_rng(0)
    rows = _rows(9)
    pixels = {s: rng.integers(0, 256, (8, 8, 3), dtype=np.uint8) for s in rows["sha256"]}
    extractor = _extractor()
    monkeypatch.setattr(feature_cache, "COMPUTE_CHUNK", 4)
    feature_cache.clear_memory()
    cache = feature_cache.FeatureCache({"test": "rows"}, home=tmp_path)

    calls: list = []
    first, features, problems = cache.features_of_rows(extractor, rows.iloc[:5], _decoder(pixels, set(), calls))
    assert [len(c) for c in calls] == [4, 1] and problems == {}
    expected = extractor.predict(np.stack([pixels[s] for s in rows["sha256"]]).astype(np.float32), verbose=0)
    np.testing.assert_allclose(features, expected[:5], rtol=1e-6)

    # The next call decodes only the four rows it has not seen, and says what it reused.
    calls.clear()
    again, features, _ = cache.features_of_rows(extractor, rows, _decoder(pixels, set(), calls))
    assert calls == [["sha5", "sha6", "sha7", "sha8"]]
    assert (cache.computed, cache.reused) == (9, 5)
    np.testing.assert_allclose(features, expected, rtol=1e-6)
    assert again["path"].tolist() == rows["path"].tolist()


def test_an_undecodable_image_drops_every_row_of_that_content(tmp_path):
    from glaucoma_core.training import feature_cache

    rng = np.random.default_rng(1)
    rows = _rows(4)
    rows.loc[3, "sha256"] = "sha1"  # the same (broken) content under two paths
    pixels = {s: rng.integers(0, 256, (8, 8, 3), dtype=np.uint8) for s in rows["sha256"]}
    feature_cache.clear_memory()
    cache = feature_cache.FeatureCache({"test": "broken"}, home=tmp_path)
    calls: list = []
    kept, features, problems = cache.features_of_rows(_extractor(), rows, _decoder(pixels, {"sha1"}, calls))
    assert calls == [["sha0", "sha1", "sha2"]]  # one decode per content
    assert kept["path"].tolist() == ["/data/img0.png", "/data/img2.png"] and features.shape[0] == 2
    assert problems == {"/data/img1.png": "cannot decode", "/data/img3.png": "cannot decode"}


def test_a_kept_extractor_whose_weights_changed_is_built_again(tmp_path):
    # A model made of the kept extractor's layers and then trained further must not make
    # later folds compute features with the changed weights.
    from glaucoma_core.config import TrainConfig
    from glaucoma_core.training import frozen_backbone

    config = TrainConfig(backbone="small_cnn", input_size=16, weights="none", backbone_options={"filters": [4]},
                         trainable="head", batch_size=4)
    frozen_backbone.clear()
    first = frozen_backbone.frozen_extractor(config)
    assert frozen_backbone.frozen_extractor(config) is first
    variable = first.weights[0]
    variable.assign(variable.numpy() + 1.0)
    again = frozen_backbone.frozen_extractor(config)
    assert again is not first
    assert frozen_backbone.frozen_extractor(config) is again
