"""Pillow's bilinear resize, written in TensorFlow ops, so a SavedModel resizes like the workbench.

The workbench turns every image file into pixels with ``PIL.Image.resize(..., BILINEAR)``
(:func:`glaucoma_core.data.images.load_rgb_array`): an antialiased triangle filter whose support
grows with the shrink factor, computed in two passes, each rounded to 8 bits, with
22-bit fixed-point weights. ``tf.image.resize`` differs from it by up to a few grey levels, which
moves P(glaucoma) by about 1e-3; this module reproduces Pillow's arithmetic (``libImaging/
Resample.c``: ``precompute_coeffs``, ``normalize_coeffs_8bpc``, ``clip8``) with one dense weight
matrix per axis, so the result is the same uint8 image, pixel for pixel, for every image at least
as wide as tall (checked against the pinned Pillow in tests/export/test_pil_resize.py; see
:func:`pil_bilinear_resize` for portrait images).

Every intermediate is an integer below 2**31 held in float64, so the sums are exact.
"""

from __future__ import annotations

import tensorflow as tf

PRECISION_BITS = 32 - 8 - 2  # Pillow's fixed-point precision for 8-bit images
_ONE = float(1 << PRECISION_BITS)
_HALF = float(1 << (PRECISION_BITS - 1))


def _axis_weights(in_size, out_size: int):
    """Pillow's fixed-point bilinear weights as a dense (out_size, in_size) float64 matrix.

    Args:
        in_size: length of the axis in the source (a scalar tensor; may be dynamic).
        out_size: length of the axis in the result (a Python int).
    """
    in_f = tf.cast(in_size, tf.float64)
    scale = in_f / float(out_size)
    filterscale = tf.maximum(scale, 1.0)
    support = 1.0 * filterscale  # the bilinear (triangle) filter has support 1
    centers = (tf.range(out_size, dtype=tf.float64) + 0.5) * scale
    # C's (int) cast truncates toward zero; the values are clamped to [0, in_size] after.
    xmin = tf.maximum(tf.math.floor(centers - support + 0.5), 0.0)
    xmax = tf.minimum(tf.math.floor(centers + support + 0.5), in_f)
    x = tf.range(tf.cast(in_size, tf.int32), dtype=tf.float64)[None, :]
    inside = (x >= xmin[:, None]) & (x < xmax[:, None])
    w = tf.maximum(1.0 - tf.abs((x - centers[:, None] + 0.5) / filterscale), 0.0)
    w = tf.where(inside, w, 0.0)
    total = tf.reduce_sum(w, axis=1, keepdims=True)
    w = tf.math.divide_no_nan(w, total)
    # normalize_coeffs_8bpc: (int)(0.5 + k * 2**22) for the (non-negative) triangle weights.
    return tf.math.floor(0.5 + w * _ONE)


def _clip8(values):
    """Pillow's clip8: round the fixed-point sums down to 0..255."""
    return tf.clip_by_value(tf.math.floor(values / _ONE), 0.0, 255.0)


def pil_bilinear_resize(images, size: int):
    """Resize uint8 RGB images to ``size`` x ``size`` exactly as Pillow's ``Image.resize(BILINEAR)``.

    Args:
        images: a uint8 tensor (N, H, W, C) of any H and W (at least 1).
        size: the side of the square result (the model's input size).

    Returns a uint8 tensor (N, size, size, C). An image already at that size comes back unchanged.
    """
    images = tf.convert_to_tensor(images)
    shape = tf.shape(images)
    x = tf.cast(images, tf.float64)
    wh = _axis_weights(shape[2], size)
    wv = _axis_weights(shape[1], size)

    # Horizontal pass first, rounded to 8 bits, then the vertical pass: Pillow's order for every
    # image at least as wide as tall (fundus photographs are landscape or square). Pillow 13 runs
    # the vertical pass first for some portrait images (Pillow pull request 9549: "if height is
    # scaled down significantly more than width"); there a pixel may differ by one grey level.
    x = _clip8(tf.einsum("ow,nhwc->nhoc", wh, x) + _HALF)
    x = _clip8(tf.einsum("oh,nhwc->nowc", wv, x) + _HALF)
    return tf.cast(x, tf.uint8)
