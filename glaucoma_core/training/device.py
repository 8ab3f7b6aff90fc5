"""Device setup: GPU memory growth, mixed precision and XLA when a GPU is present.

Without a GPU everything stays plain float32 on the CPU, unless the config asks for
mixed precision or XLA explicitly ('on').
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from glaucoma_core.config import TrainConfig


@dataclass(frozen=True)
class DeviceSetup:
    """What :func:`configure_device` decided.

    Attributes:
        gpus: number of visible GPUs.
        mixed_precision: build models under the 'mixed_float16' policy (head stays float32).
        xla: compile training steps with XLA (``jit_compile=True``).
    """

    gpus: int
    mixed_precision: bool
    xla: bool

    @property
    def policy(self) -> str:
        return "mixed_float16" if self.mixed_precision else "float32"

    def describe(self) -> str:
        where = f"{self.gpus} GPU(s)" if self.gpus else "CPU"
        return f"{where}, {self.policy}, XLA {'on' if self.xla else 'off'}"


def _switch(value: str, gpu: bool) -> bool:
    return value == "on" or (value == "auto" and gpu)


def configure_device(config: TrainConfig) -> DeviceSetup:
    """Turn on GPU memory growth (when possible) and decide mixed precision and XLA."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    for gpu in gpus:
        with contextlib.suppress(RuntimeError, ValueError):  # already initialised: leave it
            tf.config.experimental.set_memory_growth(gpu, True)
    present = bool(gpus)
    return DeviceSetup(len(gpus), _switch(config.mixed_precision, present), _switch(config.xla, present))


@contextlib.contextmanager
def dtype_policy(name: str):
    """Build models under Keras dtype policy ``name``, then restore the previous one."""
    import keras

    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)
