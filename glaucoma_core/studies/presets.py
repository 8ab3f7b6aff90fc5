"""Ready-made studies, as data: a base preset, what changes in it, the space, the rule, the budget.

- ``cpu-transfer-head``: the ``cpu-transfer`` network (MobileNetV2 alpha 0.35, ImageNet
  weights, frozen) with only its head searched: learning rate (log-uniform), dropout, dense
  units, batch size. Every trial shares one frozen backbone, so the backbone features are
  computed once per study and each trial is a few small head fits. On the demo data, 6 trials
  over 3 folds finish in minutes on 2 CPU cores. Offline, pass the ImageNet file:
  ``--set weights=/path/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_224_no_top.h5``.
- ``paper-five``: the five networks of Diaz-Pinto et al. (2019), VGG16, VGG19, InceptionV3,
  ResNet50 and Xception, each at its own input size, ImageNet weights, fine-tuned as the
  course project compared them (SGD 1e-4, momentum 0.9, flips): a grid of five trials over
  every fold. For a GPU server.
"""

from __future__ import annotations

from glaucoma_core.errors import UserError
from glaucoma_core.studies.definition import StudyDefinition

STUDY_PRESETS: dict[str, dict] = {
    "cpu-transfer-head": {
        "description": "head of the frozen cpu-transfer MobileNetV2 (lr, dropout, dense units, batch) on "
                       "shared cached features; CPU, minutes on the demo data",
        "base_preset": "cpu-transfer",
        "changes": {"epochs": 20, "early_stopping_patience": 5},
        "space": {
            "learning_rate": {"low": 1e-4, "high": 1e-2, "log": True},
            "head_dropout": {"low": 0.0, "high": 0.5},
            "head_dense_units": [0, 64, 128],
            "batch_size": [16, 32],
        },
        "metric": "auc",
        "sampler": "tpe",
        "pruner": "median",
        "n_trials": 12,
        "folds": None,
    },
    "paper-five": {
        "description": "the five fine-tuned ImageNet CNNs of Diaz-Pinto et al. 2019 over every fold (GPU server)",
        "base_preset": "paper-vgg16",
        "changes": {"input_size": None},
        "space": {"backbone": ["vgg16", "vgg19", "inceptionv3", "resnet50", "xception"]},
        "metric": "auc",
        "sampler": "grid",
        "pruner": "none",
        "n_trials": 5,
        "folds": None,
    },
}


def study_preset_names() -> list[str]:
    return list(STUDY_PRESETS)


def study_from_preset(name: str, *, overrides: dict | None = None, **changes) -> StudyDefinition:
    """The definition of ready-made study ``name``.

    Args:
        name: a key of :data:`STUDY_PRESETS`.
        overrides: configuration settings applied to the base (``--set weights=/path/...``),
            as ``TrainConfig.with_overrides`` reads them.
        changes: definition fields to replace (n_trials, folds, sampler, pruner, prune_warmup_folds,
            prune_min_trials, seed, metric, screen_folds, top, nested, data_root, space); None
            leaves the preset's value.
    """
    from glaucoma_core.config import get_preset
    from glaucoma_core.errors import ConfigError

    try:
        preset = STUDY_PRESETS[name]
    except KeyError:
        raise UserError(f"unknown study preset {name!r}; choose one of {', '.join(STUDY_PRESETS)}") from None
    try:
        base = get_preset(preset["base_preset"]).with_overrides({**preset["changes"], **(overrides or {})})
    except ConfigError as exc:
        raise UserError(f"study {name}: {exc}") from None
    fields = {k: preset[k] for k in ("space", "metric", "sampler", "pruner", "n_trials", "folds")}
    fields.update({k: v for k, v in changes.items() if v is not None})
    return StudyDefinition(base=base.to_dict(), preset=name, description=preset["description"], **fields).check()
