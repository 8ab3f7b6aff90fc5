"""Resolution normalisation: one effective resolution whatever size an image was stored at."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from glaucoma_core.config import TrainConfig
from glaucoma_core.data.fundus_synth import render_fundus, sample_parameters
from glaucoma_core.data.pipeline import DecodedImageCache, decode_image, load_images
from glaucoma_core.data.resolution import normalise_resolution
from glaucoma_core.errors import ConfigError
from glaucoma_core.external.predict import image_settings
from glaucoma_core.external.properties import sharpness


def _png(array) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def twins(tmp_path_factory):
    """One eye stored at 64 px and at 128 px (rendered natively at each)."""
    folder = tmp_path_factory.mktemp("twins")
    p = sample_parameters(4, 5)[0]
    small, big = folder / "small.png", folder / "big.png"
    small.write_bytes(_png(render_fundus(p, 64)))
    big.write_bytes(_png(render_fundus(p, 128)))
    return small, big


def test_normalisation_equalises_detail(twins):
    small, big = twins
    plain = [decode_image(str(f), "", 96, cache=None) for f in (small, big)]
    normal = [normalise_resolution(f, 96, 48) for f in (small, big)]
    assert all(a.shape == (96, 96, 3) and a.dtype == np.uint8 for a in normal)
    ratio_plain = sharpness(plain[1]) / sharpness(plain[0])
    ratio_normal = sharpness(normal[1]) / sharpness(normal[0])
    assert ratio_plain > 1.5  # the big file carries finer detail to the network...
    assert abs(np.log(ratio_normal)) < 0.5 * abs(np.log(ratio_plain))  # ...much less once normalised
    assert np.abs(normal[0].astype(int) - normal[1].astype(int)).mean() < \
        np.abs(plain[0].astype(int) - plain[1].astype(int)).mean()
    assert np.array_equal(normalise_resolution(small, 48, 48), decode_image(str(small), "", 48, cache=None))
    with pytest.raises(ValueError):
        normalise_resolution(small, 48, 0)


def test_pipeline_caches_each_resolution_apart(twins):
    small, _ = twins
    cache = DecodedImageCache()
    plain = decode_image(str(small), "sha", 64, cache)
    normalised = decode_image(str(small), "sha", 64, cache, resolution=32)
    assert len(cache) == 2 and not np.array_equal(plain, normalised)
    import pandas as pd

    loaded = load_images(pd.DataFrame({"path": [str(small)], "sha256": ["x"], "label": [0]}), 64, cache=None,
                         resolution=32)
    assert np.array_equal(loaded.images[0], normalised)


def test_config_field_and_settings():
    config = TrainConfig.from_dict({"resolution_normalisation": 224})
    config.validate()
    assert TrainConfig().resolution_normalisation is None
    with pytest.raises(ConfigError, match="resolution_normalisation"):
        TrainConfig.from_dict({"resolution_normalisation": 8}).validate()
    assert image_settings(config.to_dict()) == {"resolution": 224}
    assert image_settings(TrainConfig().to_dict()) == {} and image_settings({}) == {}


def test_feature_cache_key_names_the_resolution():
    pytest.importorskip("keras")
    from glaucoma_core.training.feature_cache import feature_key

    plain = feature_key(TrainConfig())
    assert "resolution" not in plain  # existing caches keep their keys
    assert feature_key(TrainConfig.from_dict({"resolution_normalisation": 64}))["resolution"] == 64
