"""Weights: the offline ImageNet error, local weights files, the shared genuine files."""

from __future__ import annotations

import re
import shutil
import urllib.error
from pathlib import Path

import keras
import numpy as np
import pytest

from glaucoma_core.config import TrainConfig
from glaucoma_core.networks.classifier import backbone_layers_of, build_classifier
from glaucoma_core.networks.weights import WeightsError, weights_identity

SHARED_IMAGENET = Path(__file__).resolve().parents[2].parent / "shared" / "imagenet"
MOBILENET_035 = SHARED_IMAGENET / "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_224_no_top.h5"


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """No network and an empty Keras cache: any download attempt fails like it does offline."""
    from keras.src.backend import config
    from keras.src.utils import file_utils

    def refuse(*args, **kwargs):
        raise urllib.error.URLError("network disabled in tests")

    monkeypatch.setattr(file_utils, "urlretrieve", refuse)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras-home"))
    monkeypatch.setattr(config, "_KERAS_DIR", str(tmp_path / "keras-home"))  # Keras read it at import
    return tmp_path / "keras-home"


def _mobilenet(weights: str, size: int = 96) -> TrainConfig:
    return TrainConfig(backbone="mobilenetv2", backbone_options={"alpha": 0.35}, input_size=size, weights=weights,
                       trainable="head")


def test_offline_imagenet_error_names_the_file_and_the_ways_out(offline):
    with pytest.raises(WeightsError) as caught:
        build_classifier(_mobilenet("imagenet"))
    message = caught.value.message
    assert caught.value.field == "weights"
    wanted = re.search(r"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0\.35_\d+_no_top\.h5", message)
    assert wanted, message
    assert str(offline / "models") in message
    assert "weights=/path/to/file" in message


def test_local_weights_file_loads_by_path(tmp_path):
    keras.utils.set_random_seed(1)
    source = keras.applications.MobileNetV2(include_top=False, weights=None, alpha=0.35, input_shape=(96, 96, 3))
    path = tmp_path / "local.weights.h5"
    source.save_weights(path)
    model = build_classifier(_mobilenet(str(path)))
    expected = [w for layer in source.layers for w in layer.get_weights()]
    got = [w for layer in backbone_layers_of(model) for w in layer.get_weights()]
    assert len(expected) == len(got)
    for a, b in zip(expected, got, strict=True):
        np.testing.assert_array_equal(a, b)
    assert weights_identity(str(path), 0).startswith("file-")


def test_reference_weights_kept_in_memory_follow_the_file(tmp_path):
    import os

    path = tmp_path / "local.weights.h5"

    def save(seed):
        keras.utils.set_random_seed(seed)
        source = keras.applications.MobileNetV2(include_top=False, weights=None, alpha=0.35, input_shape=(96, 96, 3))
        source.save_weights(path)
        return source.get_layer("Conv1").get_weights()[0]

    first = save(1)
    model = build_classifier(_mobilenet(str(path)))
    np.testing.assert_array_equal(model.get_layer("Conv1").get_weights()[0], first)
    # Training the built model must not change what the next fold starts from.
    model.get_layer("Conv1").set_weights([np.zeros_like(first)])
    again = build_classifier(_mobilenet(str(path)))
    np.testing.assert_array_equal(again.get_layer("Conv1").get_weights()[0], first)
    # A rewritten file (new size or mtime) is read again, not served from memory.
    second = save(2)
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    rebuilt = build_classifier(_mobilenet(str(path)))
    np.testing.assert_array_equal(rebuilt.get_layer("Conv1").get_weights()[0], second)
    assert not np.array_equal(first, second)


@pytest.mark.skipif(not MOBILENET_035.exists(), reason="../shared/imagenet not available")
def test_genuine_imagenet_file_by_path_at_any_size():
    model = build_classifier(_mobilenet(str(MOBILENET_035), size=128))
    kernel = model.get_layer("Conv1").get_weights()[0]
    import h5py

    with h5py.File(MOBILENET_035) as handle:
        def find(group):
            for key in group:
                item = group[key]
                if isinstance(item, h5py.Dataset) and "Conv1" in item.name and "kernel" in item.name:
                    return item[()]
                if isinstance(item, h5py.Group):
                    found = find(item)
                    if found is not None:
                        return found
            return None

        np.testing.assert_array_equal(kernel, find(handle))


@pytest.mark.skipif(not MOBILENET_035.exists(), reason="../shared/imagenet not available")
def test_genuine_file_in_the_keras_cache_makes_imagenet_work_offline(offline):
    (offline / "models").mkdir(parents=True)
    shutil.copy(MOBILENET_035, offline / "models" / MOBILENET_035.name)
    model = build_classifier(_mobilenet("imagenet", size=224))
    reference = build_classifier(_mobilenet(str(MOBILENET_035), size=224))
    np.testing.assert_array_equal(model.get_layer("Conv1").get_weights()[0],
                                  reference.get_layer("Conv1").get_weights()[0])
