"""The frozen backbone of the feature path, built once per process and shared by every fold.

When nothing in the backbone trains (and nothing augments), each fold of a cross-validation and
each trial of a head-only study uses the same backbone with the same weights: only its head is
new. Building the backbone's graph and loading its weights cost more than fitting a head on
cached features (about 2 s per fold for MobileNetV2 on 2 cores), so the feature extractor is
kept in memory, keyed by everything its features depend on (the feature cache's key: backbone,
options, weights file identity, input size, preprocessing, pooling, preparation) and the dtype
policy. Each fold's saved classifier is that extractor's layers plus the fold's trained head
(:func:`classifier_with_head`); the backbone layers are shared between those models, which is
safe because on this path nothing changes them. Should a caller train such a model further, the
extractor's weights no longer match the fingerprint taken when it was built, and the next call
builds a fresh one rather than serve features of changed weights.
"""

from __future__ import annotations

import hashlib
import json

from glaucoma_core.config import TrainConfig

#: Extractors kept (each holds one backbone's weights); the least recently built goes first.
MAX_EXTRACTORS = 2
_EXTRACTORS: dict[str, tuple] = {}  # key -> (extractor, fingerprint of its weights as built)


def weights_fingerprint(model) -> str:
    """A digest of every weight of ``model`` (exact: any changed value changes it)."""
    digest = hashlib.blake2b(digest_size=16)
    for variable in model.weights:
        digest.update(variable.numpy().tobytes())
    return digest.hexdigest()


def frozen_extractor(config: TrainConfig, policy: str = "float32"):
    """The feature extractor (raw pixels -> pooled features) of ``config``, built at most once.

    Args:
        config: a training config whose backbone is frozen (``config.backbone_frozen``).
        policy: the Keras dtype policy to build under ('float32' or 'mixed_float16').

    Building draws from the global random generators; callers that need reproducible draws
    afterwards (the head's initial weights) seed after this call.
    """
    from glaucoma_core.networks.classifier import build_feature_extractor
    from glaucoma_core.training.device import dtype_policy
    from glaucoma_core.training.feature_cache import feature_key

    key = json.dumps([feature_key(config), policy], sort_keys=True, default=str)
    kept = _EXTRACTORS.get(key)
    if kept is not None and weights_fingerprint(kept[0]) == kept[1]:
        extractor = kept[0]
    else:
        _EXTRACTORS.pop(key, None)
        with dtype_policy(policy):
            extractor = build_feature_extractor(config)
        while len(_EXTRACTORS) >= MAX_EXTRACTORS:
            _EXTRACTORS.pop(next(iter(_EXTRACTORS)))
        _EXTRACTORS[key] = (extractor, weights_fingerprint(extractor))
    extractor.trainable = False  # a saved classifier made of its layers may have set it
    return extractor


def classifier_with_head(extractor, head, config: TrainConfig):
    """The full classifier: ``extractor``'s layers, then a head with the weights of ``head``.

    Args:
        extractor: from :func:`frozen_extractor`.
        head: the trained head (a model from ``networks.classifier.head_model``).
        config: the training config (head settings, backbone name).

    The same flat graph, layer names and numbers as ``build_classifier`` with those weights.
    """
    from glaucoma_core.networks.classifier import classifier_on, copy_head_weights

    model = classifier_on(extractor, config)
    copy_head_weights(head, model)
    return model


def clear() -> None:
    """Forget the extractors kept in memory."""
    _EXTRACTORS.clear()
