"""The preprocessing layer every saved model starts with.

Models take raw RGB pixels (float32, 0..255) and normalise them inside the graph, so
whoever loads a model never has to know which backbone it was built on. The layer is
registered with Keras (no ``Lambda``), so ``load_model(..., safe_mode=True)`` accepts it
as long as this module has been imported.
"""

from __future__ import annotations

import keras
from keras import ops

# ImageNet channel statistics used by keras.applications' preprocess_input.
_CAFFE_BGR_MEAN = (103.939, 116.779, 123.68)
_TORCH_MEAN = (0.485, 0.456, 0.406)
_TORCH_STD = (0.229, 0.224, 0.225)

MODES = ("caffe", "tf", "torch", "unit", "none")
"""Preprocessing modes:

- ``caffe``: RGB -> BGR, subtract the ImageNet mean (VGG, ResNet50);
- ``tf``: scale to -1..1 (Inception, Xception, MobileNet);
- ``torch``: scale to 0..1, then ImageNet mean/std (DenseNet-style);
- ``unit``: scale to 0..1 (networks trained from scratch here);
- ``none``: pass through (EfficientNet normalises inside itself).
"""


@keras.saving.register_keras_serializable(package="glaucoma_core")
class ImagePreprocessing(keras.layers.Layer):
    """Turn raw 0..255 RGB pixels into what a backbone expects.

    Args:
        mode: one of :data:`MODES`.
    """

    def __init__(self, mode: str = "unit", **kwargs):
        super().__init__(**kwargs)
        if mode not in MODES:
            raise ValueError(f"unknown preprocessing mode {mode!r}; expected one of {MODES}")
        self.mode = mode

    def call(self, inputs):
        x = ops.cast(inputs, self.compute_dtype)
        if self.mode == "caffe":
            x = ops.flip(x, axis=-1)  # RGB -> BGR
            return x - ops.convert_to_tensor(_CAFFE_BGR_MEAN, dtype=x.dtype)
        if self.mode == "tf":
            return x / 127.5 - 1.0
        if self.mode == "torch":
            mean = ops.convert_to_tensor(_TORCH_MEAN, dtype=x.dtype)
            std = ops.convert_to_tensor(_TORCH_STD, dtype=x.dtype)
            return (x / 255.0 - mean) / std
        if self.mode == "unit":
            return x / 255.0
        return x

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}
