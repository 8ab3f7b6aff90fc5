"""Crop around the optic disc, found as the brightest region of the fundus.

Glaucoma shows in the optic nerve head, a small part of a full-field photograph. Datasets of
the original study were disc-centred crops; this layer makes such a crop inside the model,
so a compact network sees the disc at high resolution: blur the brightness at 1/4 scale,
take the brightest point, and crop a square ``window`` (fraction of the image side) around
it, resized to ``output_size`` pixels. A registered Keras layer (safe-mode loadable). The
crop position carries no gradient; the pixels inside it do.
"""

from __future__ import annotations

import keras


@keras.saving.register_keras_serializable(package="glaucoma_core")
class DiscCrop(keras.layers.Layer):
    """Crop a square around the brightest region.

    Args:
        window: side of the crop as a fraction of the input side (0 < window <= 1).
        output_size: side of the output in pixels.
        blur: side of the brightness blur as a fraction of the input side (about the disc's
            diameter, so the disc beats small bright specks).
    """

    def __init__(self, window: float = 0.3, output_size: int = 64, blur: float = 0.12, **kwargs):
        super().__init__(**kwargs)
        self.window = float(window)
        self.output_size = int(output_size)
        self.blur = float(blur)

    def crop_boxes(self, inputs):
        """Crop boxes (batch, 4) as normalised (y1, x1, y2, x2) of the input images.

        Grad-CAM of a model with this layer maps its heat map back into these boxes.
        """
        import tensorflow as tf

        x = tf.cast(inputs, "float32")
        height, width = int(x.shape[1]), int(x.shape[2])
        factor = max(1, min(height, width) // 64)
        gray = tf.reduce_mean(x, axis=-1, keepdims=True)
        small = tf.nn.avg_pool2d(gray, factor, factor, "VALID")
        sh, sw = int(small.shape[1]), int(small.shape[2])
        k = max(3, int(round(self.blur * min(sh, sw))) | 1)
        blurred = tf.nn.avg_pool2d(small, k, 1, "SAME")
        flat = tf.reshape(blurred, (-1, sh * sw))
        best = tf.stop_gradient(tf.argmax(flat, axis=1, output_type=tf.int32))
        cy = (tf.cast(best // sw, "float32") + 0.5) / sh
        cx = (tf.cast(best % sw, "float32") + 0.5) / sw
        half = self.window / 2
        return tf.stack([cy - half, cx - half, cy + half, cx + half], axis=1)

    def call(self, inputs):
        import tensorflow as tf

        x = tf.cast(inputs, "float32")
        boxes = self.crop_boxes(x)
        crops = tf.image.crop_and_resize(x, boxes, tf.range(tf.shape(x)[0]), (self.output_size, self.output_size))
        return tf.cast(crops, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.output_size, self.output_size, input_shape[-1])

    def get_config(self):
        return {**super().get_config(), "window": self.window, "output_size": self.output_size, "blur": self.blur}
