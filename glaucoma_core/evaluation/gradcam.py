"""Grad-CAM: where in the image did the model look when it scored glaucoma?

For a classifier that follows the saved-model contract (input RGB 0..255, a float32
``Dense(2)`` layer named ``logits``, one flat functional graph), the heat map is

    weights_k = mean over (i, j) of d target / d A_k(i, j)
    cam(i, j) = ReLU(sum_k weights_k * A_k(i, j)),  then divided by its maximum

where ``A`` is the last convolutional feature map and ``target`` the glaucoma logit
(``logits[:, 1]``, default) or the logit difference ``logits[:, 1] - logits[:, 0]`` (the
log-odds of glaucoma). Gradients and activations are cast to float32, so models trained
under mixed precision work. The map is resized (bilinear) to the input and overlaid with a
jet colour map written in numpy (no matplotlib).

The gradient step runs as a compiled ``tf.function`` built once per (model, layer, target)
and kept in a cache keyed weakly on the model object (see :func:`_gradcam_function`):
building a Keras model and running an eager tape on every call cost ~15x more per image.

TensorFlow is imported inside the functions that need it.
"""

from __future__ import annotations

import threading
import weakref

import numpy as np
from PIL import Image

TARGETS = ("glaucoma_logit", "logit_difference")

# model -> {(layer_name, target) or "crop_boxes": compiled function}. Weak keys: an entry goes
# when its model is garbage-collected, and a new model can never see another model's entry
# (unlike a cache keyed on id(model), which a new object may reuse). The values hold the
# model's layers, never the model object itself, so they do not keep their key alive.
_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_CACHE_LOCK = threading.Lock()


# --- finding the layer -----------------------------------------------------------------------


def find_last_conv_layer(model) -> str:
    """Name of the layer whose activations Grad-CAM differentiates.

    The backbone registry's ``last_conv_layer`` when the model is named ``glaucoma_<backbone>``
    (as ``networks.classifier.build_classifier`` names it) and has that layer; otherwise the
    last layer with a 4-D output (batch, height, width, channels) before the ``pooling`` /
    ``logits`` layers, skipping the input and preprocessing layers.
    """
    names = {layer.name for layer in model.layers}
    backbone = str(getattr(model, "name", "")).removeprefix("glaucoma_")
    if backbone and backbone != getattr(model, "name", ""):
        try:
            from glaucoma_core.networks.registry import get_backbone

            candidate = get_backbone(backbone).last_conv_layer
            if candidate in names:
                return candidate
        except (ImportError, KeyError):
            pass
    for layer in reversed(model.layers):
        kind = layer.__class__.__name__
        if kind in ("InputLayer", "ImagePreprocessing", "Rescaling", "Normalization"):
            continue
        shape = getattr(getattr(layer, "output", None), "shape", None)
        if shape is not None and len(shape) == 4:
            return layer.name
    raise ValueError("Grad-CAM needs a convolutional feature map: the model has no layer with a 4-D output")


def _input_size(model) -> tuple[int, int]:
    shape = model.inputs[0].shape
    if shape[1] is None or shape[2] is None:
        raise ValueError("Grad-CAM needs a model with a fixed input size")
    return int(shape[1]), int(shape[2])


def _as_batch(images, size: tuple[int, int]) -> np.ndarray:
    """uint8/float RGB images -> float32 batch at the model's input size (values 0..255)."""
    if isinstance(images, np.ndarray) and images.ndim == 3:
        images = images[None]
    out = []
    for image in images:
        array = np.asarray(image)
        if array.ndim != 3 or array.shape[-1] != 3:
            raise ValueError(f"expected RGB images of shape (H, W, 3), got {array.shape}")
        if array.shape[:2] != size:
            pil = Image.fromarray(np.clip(array, 0, 255).astype(np.uint8))
            array = np.asarray(pil.resize((size[1], size[0]), Image.BILINEAR))
        out.append(array.astype(np.float32))
    if not out:
        raise ValueError("no images given")
    return np.stack(out)


# --- heat maps -------------------------------------------------------------------------------


def gradcam_heatmaps(model, images, *, layer_name: str | None = None, target: str = "glaucoma_logit",
                     batch_size: int = 16, resize: bool = True) -> np.ndarray:
    """Grad-CAM heat maps for a batch of images.

    Args:
        model: a Keras classifier following the saved-model contract (layer ``logits``).
        images: one RGB image (H, W, 3) or a sequence/array of them, values 0..255; images of
            another size are resized to the model's input first.
        layer_name: feature-map layer; default :func:`find_last_conv_layer`.
        target: 'glaucoma_logit' (``logits[:, 1]``) or 'logit_difference'.
        batch_size: images per forward/backward pass.
        resize: resize the maps to the model's input size (else the feature map's size).
            A model that crops its input (``DiscCrop``) always gets maps at its input size,
            each pasted into the box its crop came from.

    Returns:
        float32 array (N, H, W) in [0, 1] (each map divided by its maximum; all zeros when no
        location raises the target).
    """
    import tensorflow as tf

    if target not in TARGETS:
        raise ValueError(f"target must be one of {', '.join(TARGETS)}, got {target!r}")
    try:
        logits_layer = model.get_layer("logits")
    except ValueError:
        raise ValueError("Grad-CAM needs a layer named 'logits' (the saved-model contract)") from None
    layer_name = layer_name or find_last_conv_layer(model)
    size = _input_size(model)
    batch = _as_batch(images, size)
    compute_cams = _gradcam_function(model, layer_name, target, logits_layer)
    batch_size = max(1, int(batch_size))
    maps = []
    for start in range(0, len(batch), batch_size):
        x = tf.convert_to_tensor(batch[start : start + batch_size])
        maps.append(compute_cams(x).numpy())
    cams = np.concatenate(maps, axis=0).astype(np.float32)
    peak = cams.reshape(len(cams), -1).max(axis=1)
    cams = np.where(peak[:, None, None] > 0, cams / np.maximum(peak, 1e-12)[:, None, None], 0.0)
    boxes = _crop_boxes(model, batch)
    if boxes is not None:
        # The conv layers saw a crop of the input: put each map back where its crop came from.
        return np.stack([paste_into_box(c, box, size) for c, box in zip(cams, boxes, strict=True)])
    if resize:
        cams = np.stack([resize_heatmap(c, size) for c in cams])
    return cams.astype(np.float32)


def _gradcam_function(model, layer_name: str, target: str, logits_layer=None):
    """The cached compiled function: float32 batch (N, H, W, 3) -> float32 maps (N, h, w).

    Built on first use for this model, feature-map layer and target: a gradient model
    (input -> [layer output, ``logits``]) and a ``tf.function`` running the tape on it, with a
    fixed input signature whose batch dimension is ``None`` so batches of any size share one
    trace. The maps are ReLU(sum_k mean_ij(d target / d A_k) * A_k), in float32, not normalised.
    """
    key = (layer_name, target)
    with _CACHE_LOCK:
        entry = _CACHE.get(model, {}).get(key)
    if entry is not None:
        return entry
    entry = _build_gradcam_function(model, layer_name, target, logits_layer or model.get_layer("logits"))
    with _CACHE_LOCK:
        # Another thread may have built one meanwhile: keep the first so callers share it.
        return _CACHE.setdefault(model, {}).setdefault(key, entry)


def _build_gradcam_function(model, layer_name: str, target: str, logits_layer):
    """Build (uncached) the compiled Grad-CAM step described in :func:`_gradcam_function`."""
    import keras
    import tensorflow as tf

    height, width = _input_size(model)
    grad_model = keras.Model(model.inputs[0], [model.get_layer(layer_name).output, logits_layer.output])
    difference = target == "logit_difference"

    @tf.function(input_signature=[tf.TensorSpec([None, height, width, 3], tf.float32)], reduce_retracing=True)
    def compute_cams(x):
        with tf.GradientTape() as tape:
            activations, logits = grad_model(x, training=False)
            tape.watch(activations)  # also when the layers below are frozen
            logits = tf.cast(logits, tf.float32)
            score = logits[:, 1] - logits[:, 0] if difference else logits[:, 1]
        grads = tf.cast(tape.gradient(score, activations), tf.float32)
        activations = tf.cast(activations, tf.float32)
        weights = tf.reduce_mean(grads, axis=(1, 2), keepdims=True)
        return tf.nn.relu(tf.reduce_sum(weights * activations, axis=-1))

    return compute_cams


def _crop_boxes(model, batch: np.ndarray) -> np.ndarray | None:
    """Normalised (y1, x1, y2, x2) crop boxes of a model with a DiscCrop layer, else None."""
    crop_layers = [layer for layer in model.layers if hasattr(layer, "crop_boxes")]
    if not crop_layers:
        return None
    with _CACHE_LOCK:
        boxes_of = _CACHE.get(model, {}).get("crop_boxes")
    if boxes_of is None:
        boxes_of = _build_crop_boxes_function(model, crop_layers[0])
        with _CACHE_LOCK:
            boxes_of = _CACHE.setdefault(model, {}).setdefault("crop_boxes", boxes_of)
    return np.asarray(boxes_of(np.asarray(batch, dtype=np.float32)), dtype=np.float32)


def _build_crop_boxes_function(model, layer):
    """Compiled float32 batch -> (N, 4) crop boxes of the DiscCrop ``layer`` inside ``model``."""
    import keras
    import tensorflow as tf

    height, width = _input_size(model)
    crop_input = keras.Model(model.inputs[0], layer.input)

    @tf.function(input_signature=[tf.TensorSpec([None, height, width, 3], tf.float32)], reduce_retracing=True)
    def boxes_of(x):
        return layer.crop_boxes(crop_input(x, training=False))

    return boxes_of


def paste_into_box(heatmap: np.ndarray, box, size: tuple[int, int]) -> np.ndarray:
    """A map of ``size`` = (height, width), zero outside ``box``, ``heatmap`` resized inside it.

    Args:
        heatmap: 2-D map in [0, 1] of the cropped region.
        box: normalised (y1, x1, y2, x2) of the crop in the full image (may pass its edges).
        size: the full image's (height, width).
    """
    height, width = size
    y1, x1, y2, x2 = (float(v) for v in box)
    top, left = int(round(y1 * height)), int(round(x1 * width))
    box_h = max(1, int(round((y2 - y1) * height)))
    box_w = max(1, int(round((x2 - x1) * width)))
    inside = resize_heatmap(heatmap, (box_h, box_w))
    full = np.zeros((height, width), dtype=np.float32)
    r0, c0 = max(top, 0), max(left, 0)
    r1, c1 = min(top + box_h, height), min(left + box_w, width)
    if r1 > r0 and c1 > c0:
        full[r0:r1, c0:c1] = inside[r0 - top : r1 - top, c0 - left : c1 - left]
    return full


def resize_heatmap(heatmap: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of a 2-D map to ``size`` = (height, width), clipped to [0, 1]."""
    pil = Image.fromarray(np.ascontiguousarray(heatmap, dtype=np.float32))  # mode "F"
    resized = np.asarray(pil.resize((int(size[1]), int(size[0])), Image.BILINEAR), dtype=np.float32)
    return np.clip(resized, 0.0, 1.0)


# --- colouring and overlay -------------------------------------------------------------------


def jet_colormap(values: np.ndarray) -> np.ndarray:
    """Jet colour map: values in [0, 1] -> uint8 RGB (blue -> cyan -> yellow -> red)."""
    v = np.clip(np.asarray(values, dtype=np.float32), 0.0, 1.0)
    r = np.clip(1.5 - np.abs(4.0 * v - 3.0), 0.0, 1.0)
    g = np.clip(1.5 - np.abs(4.0 * v - 2.0), 0.0, 1.0)
    b = np.clip(1.5 - np.abs(4.0 * v - 1.0), 0.0, 1.0)
    return np.round(np.stack([r, g, b], axis=-1) * 255).astype(np.uint8)


def overlay_heatmap(image: np.ndarray, heatmap: np.ndarray, alpha: float = 0.4) -> np.ndarray:
    """Blend a heat map onto an RGB image.

    Args:
        image: uint8 RGB (H, W, 3) (any size; the map is resized to it).
        heatmap: 2-D map in [0, 1].
        alpha: weight of the colours (0 = image only, 1 = colours only).

    Returns:
        uint8 RGB (H, W, 3).
    """
    img = np.asarray(image)
    if img.ndim != 3 or img.shape[-1] != 3:
        raise ValueError(f"expected an RGB image (H, W, 3), got {img.shape}")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    heat = resize_heatmap(heatmap, img.shape[:2])
    colours = jet_colormap(heat).astype(np.float32)
    blended = (1.0 - alpha) * img.astype(np.float32) + alpha * colours
    return np.clip(np.round(blended), 0, 255).astype(np.uint8)


def gradcam_overlay(model, image: np.ndarray, *, alpha: float = 0.4, layer_name: str | None = None,
                    target: str = "glaucoma_logit") -> np.ndarray:
    """Grad-CAM overlay of one uint8 RGB image, at the image's own size."""
    heat = gradcam_heatmaps(model, np.asarray(image)[None], layer_name=layer_name, target=target, resize=False)[0]
    return overlay_heatmap(np.asarray(image, dtype=np.uint8), heat, alpha)


def gradcam_overlays(model, images, *, alpha: float = 0.4, batch_size: int = 16,
                     target: str = "glaucoma_logit") -> list[np.ndarray]:
    """Overlays for a gallery: one batched Grad-CAM pass, each overlay at its image's size."""
    images = [np.asarray(image, dtype=np.uint8) for image in images]
    heats = gradcam_heatmaps(model, images, batch_size=batch_size, target=target, resize=False)
    return [overlay_heatmap(image, heat, alpha) for image, heat in zip(images, heats, strict=True)]
