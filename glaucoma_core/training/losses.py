"""Loss and optimizer of a TrainConfig (all built-in Keras objects, so models stay portable)."""

from __future__ import annotations

from glaucoma_core.config import TrainConfig


def make_loss(config: TrainConfig):
    """The Keras loss of ``config.loss`` on one-hot labels and 2-column probabilities.

    'categorical_crossentropy' (the original study), 'binary_crossentropy' (per column) or
    'focal' (categorical focal cross-entropy with ``focal_gamma``).
    """
    import keras

    if config.loss == "binary_crossentropy":
        return keras.losses.BinaryCrossentropy()
    if config.loss == "focal":
        return keras.losses.CategoricalFocalCrossentropy(gamma=float(config.focal_gamma))
    return keras.losses.CategoricalCrossentropy()


def make_optimizer(config: TrainConfig, learning_rate: float | None = None):
    """The Keras optimizer of ``config.optimizer`` ('adam' | 'adamw' | 'sgd' with momentum)."""
    import keras

    lr = float(config.learning_rate if learning_rate is None else learning_rate)
    if config.optimizer == "adamw":
        return keras.optimizers.AdamW(learning_rate=lr, weight_decay=float(config.weight_decay))
    if config.optimizer == "sgd":
        return keras.optimizers.SGD(learning_rate=lr, momentum=float(config.momentum))
    return keras.optimizers.Adam(learning_rate=lr)
