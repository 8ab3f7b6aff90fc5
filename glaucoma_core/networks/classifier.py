"""Build the classifier: raw pixels -> preprocessing -> backbone -> head -> P(class).

The saved-model contract (CONTRACTS.md): input float32 RGB 0..255 at (S, S, 3); an
:class:`ImagePreprocessing` layer named ``preprocessing``; the backbone's layers inlined in
the same flat functional graph; a pooling layer named ``pooling``; the head; a float32
``Dense(2)`` named ``logits``; a float32 softmax named ``probabilities`` (column 1 =
P(glaucoma)).

``config`` below is a :class:`glaucoma_core.config.TrainConfig` (or anything with its fields
and ``resolved_input_size()`` / ``resolved_backbone_options()``): this package never imports
the configuration module, which itself asks the backbone registry.
"""

from __future__ import annotations

from glaucoma_core.networks.layers import ImagePreprocessing  # also registers every custom layer
from glaucoma_core.networks.registry import get_backbone
from glaucoma_core.networks.weights import reference_weights, set_backbone_weights

HEAD_LAYER_NAMES = ("head_dense", "head_dropout", "logits", "probabilities")


def _pooling(config):
    from keras import layers

    if config.head_pooling == "max":
        return layers.GlobalMaxPooling2D(name="pooling")
    if config.head_pooling == "flatten":
        return layers.Flatten(name="pooling")
    return layers.GlobalAveragePooling2D(name="pooling")


def build_head(features, config):
    """The head on a pooled feature tensor: [Dense+ReLU] -> Dropout -> logits -> probabilities.

    Args:
        features: a (batch, n_features) Keras tensor.
        config: supplies ``head_dense_units`` and ``head_dropout``.
    """
    from keras import layers

    x = features
    if config.head_dense_units:
        x = layers.Dense(int(config.head_dense_units), activation="relu", name="head_dense")(x)
    x = layers.Dropout(float(config.head_dropout), seed=config.seed, name="head_dropout")(x)
    x = layers.Dense(2, dtype="float32", name="logits")(x)
    return layers.Activation("softmax", dtype="float32", name="probabilities")(x)


def build_feature_extractor(config, *, load_weights: bool = True):
    """Raw pixels -> preprocessing -> backbone -> pooled features, as one flat model.

    The first part of :func:`build_classifier` (same layers, same random draws); the feature
    path of training keeps one per process and puts fresh heads on it.

    Args:
        config: the training config (backbone and its options, input size, weights, pooling).
        load_weights: False skips loading backbone weights.
    """
    import keras

    spec = get_backbone(config.backbone)
    size = config.resolved_input_size()
    options = config.resolved_backbone_options()
    inputs = keras.Input((size, size, 3), dtype="float32", name="image")
    x = ImagePreprocessing(spec.preprocess, name="preprocessing")(inputs)
    base = spec.constructor(x, None, **options)
    weights = str(config.weights)
    if load_weights and weights.lower() != "none":
        source = "imagenet" if weights.lower() == "imagenet" else weights
        set_backbone_weights(reference_weights(spec, size, source, options), backbone_layers_of(base))
    pooled = _pooling(config)(base.output)
    return keras.Model(inputs, pooled, name="features")


def classifier_on(extractor, config):
    """The classifier made of ``extractor``'s layers (shared, not copied) and a fresh head.

    Args:
        extractor: a model from :func:`build_feature_extractor` (or :func:`feature_extractor`).
        config: supplies the head settings and the backbone's name.

    The result is the same flat graph as :func:`build_classifier` builds; no trainable flag is
    changed.
    """
    import keras

    outputs = build_head(extractor.outputs[0], config)
    return keras.Model(extractor.inputs, outputs, name=f"glaucoma_{get_backbone(config.backbone).name}")


def build_classifier(config, *, load_weights: bool = True):
    """Build the classifier of ``config`` (trainable flags set, not compiled).

    Args:
        config: the training config (backbone, input size, weights, trainable, head).
        load_weights: False skips loading backbone weights (used when the caller copies
            trained weights in afterwards).
    """
    model = classifier_on(build_feature_extractor(config, load_weights=load_weights), config)
    set_trainable(model, config.trainable, config.trainable_layers)
    return model


def backbone_layers_of(model) -> list:
    """Backbone layers of a model: every layer after ``preprocessing`` and before ``pooling``."""
    layers = []
    started = False
    for layer in model.layers:
        if layer.name == "pooling":
            break
        if started:
            layers.append(layer)
        if layer.name == "preprocessing":
            started = True
    return layers


def set_trainable(model, trainable: str, n_layers: int = 0) -> None:
    """Freeze or unfreeze the backbone of a classifier.

    Args:
        model: a classifier from :func:`build_classifier`.
        trainable: 'head' (backbone frozen), 'last_n' (last ``n_layers`` backbone layers
            train) or 'all'.
        n_layers: for 'last_n'.

    BatchNormalization layers stay frozen (and so in inference mode: Keras 3 normalises with
    the moving statistics when a BN layer is not trainable) unless everything trains.
    """
    import keras

    backbone = backbone_layers_of(model)
    for layer in backbone:
        layer.trainable = trainable == "all"
    if trainable == "last_n" and n_layers > 0:
        for layer in backbone[-int(n_layers):]:
            if not isinstance(layer, keras.layers.BatchNormalization):
                layer.trainable = True


def feature_extractor(model):
    """The model up to the ``pooling`` layer: raw pixels -> pooled backbone features."""
    import keras

    return keras.Model(model.inputs, model.get_layer("pooling").output, name="features")


def head_model(n_features: int, config):
    """The head alone, on an input of ``n_features`` pooled features (same layer names)."""
    import keras

    inputs = keras.Input((int(n_features),), dtype="float32", name="features")
    return keras.Model(inputs, build_head(inputs, config), name="head")


def copy_head_weights(source, target) -> None:
    """Copy the head layers' weights (by name) from ``source`` into ``target``."""
    for name in HEAD_LAYER_NAMES:
        try:
            layer = source.get_layer(name)
        except ValueError:
            continue
        if layer.weights:
            target.get_layer(name).set_weights(layer.get_weights())
