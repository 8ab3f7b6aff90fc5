"""Device setup: 'auto' means on with a GPU only; 'on' forces; the dtype policy is restored."""

from __future__ import annotations

import keras

from glaucoma_core.config import TrainConfig
from glaucoma_core.training.device import configure_device, dtype_policy


def test_auto_follows_the_gpu_and_on_forces():
    auto = configure_device(TrainConfig())
    assert auto.mixed_precision == bool(auto.gpus) and auto.xla == bool(auto.gpus)
    forced = configure_device(TrainConfig(mixed_precision="on", xla="on"))
    assert forced.mixed_precision and forced.xla and forced.policy == "mixed_float16"
    off = configure_device(TrainConfig(mixed_precision="off", xla="off"))
    assert not off.mixed_precision and not off.xla and "float32" in off.describe()


def test_dtype_policy_is_restored():
    before = keras.config.dtype_policy().name
    with dtype_policy("mixed_float16"):
        assert keras.config.dtype_policy().name == "mixed_float16"
    assert keras.config.dtype_policy().name == before
