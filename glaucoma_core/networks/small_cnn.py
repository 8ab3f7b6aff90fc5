"""A compact CNN trained from scratch: the backbone of the ``cpu-small`` preset.

Blocks of (3x3 conv -> BatchNorm -> ReLU) ending in 2x2 max-pooling; the last block is not
pooled, its activation is named ``last_conv_relu`` (Grad-CAM's layer). Small enough that a
full 10-fold cross-validation of the demo dataset runs in minutes on two CPU cores.
"""

from __future__ import annotations

from glaucoma_core.networks.backbone_spec import backbone
from glaucoma_core.settings import Setting

DEFAULT_FILTERS = (16, 32, 64, 96)

OPTIONS = (
    Setting("filters", "int_list", list(DEFAULT_FILTERS), group="Network", low=1, high=2048, max_items=8,
            help="Output channels of each block, one block per entry (each block but the last halves the "
            "image side)."),
    Setting("convs_per_block", "int", 1, group="Network", low=1, high=8,
            help="3x3 convolutions (with BatchNorm and ReLU) in each block."),
    Setting("disc_crop", "float", 0.0, group="Network", low=0.0, high=1.0,
            help="When > 0, first crop a square of this fraction of the image side around the brightest "
            "region (the optic disc); 0 = off."),
    Setting("crop_size", "int", 64, group="Network", low=16, high=1024,
            help="Side in pixels of that crop (used when disc_crop > 0)."),
)


@backbone(
    "small_cnn",
    size=128,
    min_size=32,
    preprocess="unit",
    last_conv_layer="last_conv_relu",
    imagenet=False,
    options=OPTIONS,
)
def small_cnn(input_tensor, weights, filters=DEFAULT_FILTERS, convs_per_block: int = 1, disc_crop: float = 0.0,
              crop_size: int = 64):
    """Compact CNN from scratch (a few conv blocks), 128 px; no ImageNet weights.

    Args:
        input_tensor: the (preprocessed) image tensor the network is built on.
        weights: None, or a path to a weights file saved from this network.
        filters: output channels of each block; one block per entry.
        convs_per_block: 3x3 convolutions in each block.
        disc_crop: when > 0, first crop a square of this fraction of the image side around
            the brightest region (the optic disc; see :class:`DiscCrop`), resized to
            ``crop_size`` pixels.
        crop_size: side of that crop in pixels.
    """
    import keras
    from keras import layers

    from glaucoma_core.networks.weights import load_weights_file

    filters = [int(f) for f in filters]
    x = input_tensor
    if disc_crop:
        from glaucoma_core.networks.disc_crop import DiscCrop

        x = DiscCrop(window=float(disc_crop), output_size=int(crop_size), name="disc_crop")(x)
    for b, width in enumerate(filters, start=1):
        last_block = b == len(filters)
        for c in range(1, int(convs_per_block) + 1):
            x = layers.Conv2D(width, 3, padding="same", use_bias=False, name=f"block{b}_conv{c}")(x)
            x = layers.BatchNormalization(momentum=0.9, name=f"block{b}_bn{c}")(x)
            last = last_block and c == int(convs_per_block)
            x = layers.Activation("relu", name="last_conv_relu" if last else f"block{b}_relu{c}")(x)
        if not last_block:
            x = layers.MaxPooling2D(2, name=f"block{b}_pool")(x)
    from keras.src.ops.operation_utils import get_source_inputs

    model = keras.Model(get_source_inputs(input_tensor), x, name="small_cnn")
    if weights is not None:
        load_weights_file(model, weights)
    return model
