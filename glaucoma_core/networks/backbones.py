"""The Keras Applications backbones: the paper's five networks, MobileNetV2, EfficientNetB0.

Each constructor builds ``keras.applications.<Net>(include_top=False)`` on the caller's
input tensor, so the backbone's layers are inlined in one flat functional graph (Grad-CAM
needs to reach the last convolutional layer). Weights: ``"imagenet"`` (Keras' download and
cache), ``None``, or a path to a weights file; see :mod:`glaucoma_core.networks.weights`.
Options are declared with the constructor (:class:`~glaucoma_core.settings.Setting`) and
checked by the backbone's spec.
"""

from __future__ import annotations

from glaucoma_core.networks.backbone_spec import backbone
from glaucoma_core.settings import Setting

MOBILENET_IMAGENET_ALPHAS = (0.35, 0.5, 0.75, 1.0, 1.3, 1.4)
"""The widths of MobileNetV2 for which Keras has ImageNet weights."""


def _application(name: str):
    import keras

    return getattr(keras.applications, name)


def _build(app_name: str, input_tensor, weights, **options):
    app = _application(app_name)
    return app(include_top=False, weights=weights, input_tensor=input_tensor, **options)


@backbone("vgg16", size=224, min_size=32, preprocess="caffe", last_conv_layer="block5_conv3")
def vgg16(input_tensor, weights):
    """VGG16 (Simonyan & Zisserman 2014), 224 px."""
    return _build("VGG16", input_tensor, weights)


@backbone("vgg19", size=224, min_size=32, preprocess="caffe", last_conv_layer="block5_conv4")
def vgg19(input_tensor, weights):
    """VGG19 (Simonyan & Zisserman 2014), 224 px."""
    return _build("VGG19", input_tensor, weights)


@backbone(
    "inceptionv3", size=299, min_size=75, preprocess="tf", last_conv_layer="mixed10"
)
def inceptionv3(input_tensor, weights):
    """InceptionV3 (Szegedy et al. 2015), 299 px."""
    return _build("InceptionV3", input_tensor, weights)


@backbone(
    "resnet50", size=224, min_size=32, preprocess="caffe", last_conv_layer="conv5_block3_out"
)
def resnet50(input_tensor, weights):
    """ResNet50 (He et al. 2015), 224 px."""
    return _build("ResNet50", input_tensor, weights)


@backbone(
    "xception", size=299, min_size=71, preprocess="tf", last_conv_layer="block14_sepconv2_act"
)
def xception(input_tensor, weights):
    """Xception (Chollet 2016), 299 px."""
    return _build("Xception", input_tensor, weights)


def _mobilenet_check(options: dict, weights: str) -> str | None:
    alpha = float(options["alpha"])
    if weights.lower() == "imagenet" and not any(abs(alpha - a) < 1e-9 for a in MOBILENET_IMAGENET_ALPHAS):
        widths = ", ".join(f"{a:g}" for a in MOBILENET_IMAGENET_ALPHAS)
        return f"alpha={alpha:g} has no ImageNet weights (MobileNetV2 ImageNet widths: {widths})"
    return None


@backbone(
    "mobilenetv2",
    size=224,
    min_size=32,
    preprocess="tf",
    last_conv_layer="out_relu",
    options=[Setting("alpha", "float", 1.0, group="Network", low=0.0, low_open=True, high=4.0,
                     help="Width multiplier: channels of every layer times alpha. ImageNet weights "
                     "exist for 0.35, 0.5, 0.75, 1.0, 1.3 and 1.4.")],
    check=_mobilenet_check,
)
def mobilenetv2(input_tensor, weights, alpha: float = 1.0):
    """MobileNetV2 (Sandler et al. 2018), 224 px; ``alpha`` = width multiplier (0.35 ... 1.4)."""
    return _build("MobileNetV2", input_tensor, weights, alpha=float(alpha))


@backbone(
    "efficientnetb0", size=224, min_size=32, preprocess="none", last_conv_layer="top_activation"
)
def efficientnetb0(input_tensor, weights):
    """EfficientNetB0 (Tan & Le 2019), 224 px; normalises raw pixels itself."""
    return _build("EfficientNetB0", input_tensor, weights)
