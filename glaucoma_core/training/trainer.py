"""Train one fold: index rows in, a trained classifier and its per-image predictions out.

    result = train_fold(get_preset("cpu-small"), index, fold=1, reporter=PrintReporter())

Steps: select the fold's usable rows (unusable ones are skipped and counted) -> check the
config against the fold -> set up the device -> then one of two paths:

- images (something in the backbone trains, or augmentation is on): decode every image once
  per content hash, build the classifier, train it on images (tf.data, augmentation on the
  fly);
- features (the backbone is frozen, no augmentation): take the frozen backbone kept in this
  process (``frozen_backbone``), compute the pooled features of images not yet in the feature
  cache (decoding only those, a chunk at a time), fit the head alone on the features; the
  returned classifier is the backbone's layers plus that head.

-> optionally fine-tune the last backbone layers (on images) -> keep the best epoch's
weights -> predict P(glaucoma) for every valid and test image.

The trainer never imports the run store or Streamlit; it talks through the reporter.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import pandas as pd

from glaucoma_core.config import ConfigError, TrainConfig
from glaucoma_core.data.pipeline import (
    array_dataset,
    augmentation_layer,
    fold_splits,
    load_images,
    make_dataset,
)
from glaucoma_core.preparation.summary import preparation_summary
from glaucoma_core.training.reporting import Reporter


@dataclass
class FoldResult:
    """What :func:`train_fold` returns.

    Attributes:
        model: the trained classifier (best epoch's weights, float32, not compiled), ready for
            ``RunStore.save_model``. On the feature path its backbone layers are the process's
            frozen extractor's (see training/frozen_backbone.py): save it or predict with it;
            training it further makes the next fold build a fresh extractor.
        history: one dict per epoch: 'epoch' and the metric keys of the reporter protocol.
        predictions: DataFrame(split, path, sha256, label, probability) for every valid and
            test image, from the best model.
        best_epoch: the 1-based epoch whose weights were kept.
        cancelled: True when the reporter asked to stop.
        skipped_images: rows of the fold not used (flagged by the index or failing to decode).
        seconds: wall time of the whole call.
        info: extras: path ('features' or 'images'), device, feature cache statistics,
            skipped paths with their reasons.
    """

    model: object
    history: list
    predictions: pd.DataFrame
    best_epoch: int
    cancelled: bool
    skipped_images: int
    seconds: float
    info: dict = field(default_factory=dict)


# ---- compile and fit ---------------------------------------------------------------------------


def _compile(model, config: TrainConfig, device, learning_rate: float, steps_per_execution: int = 1,
             metrics: bool = True) -> None:
    """Compile ``model``; ``metrics`` False leaves Keras' metrics out (the feature path computes
    its epoch metrics itself, see callbacks.FeatureEpochMetrics)."""
    from glaucoma_core.training.keras_metrics import training_metrics
    from glaucoma_core.training.losses import make_loss, make_optimizer

    model.compile(
        optimizer=make_optimizer(config, learning_rate),
        loss=make_loss(config),
        metrics=training_metrics() if metrics else None,
        jit_compile=bool(device.xla),
        steps_per_execution=int(steps_per_execution),
    )


def _callbacks(config: TrainConfig, reporter, n_train: int, epochs: int, learning_rate: float,
               history: list, tracker):
    import keras

    from glaucoma_core.training.callbacks import ReporterCallback, WarmupCosine

    callbacks = []
    if config.lr_schedule == "cosine":
        callbacks.append(WarmupCosine(learning_rate, epochs, config.lr_warmup_epochs))
    elif config.lr_schedule == "plateau":
        monitor = config.early_stopping_monitor if config.early_stopping_monitor.startswith("val_") else "val_loss"
        callbacks.append(keras.callbacks.ReduceLROnPlateau(
            monitor=monitor, factor=config.lr_plateau_factor, patience=config.lr_plateau_patience,
            mode="min" if monitor.endswith("loss") else "max", verbose=0))
    reporting = ReporterCallback(reporter, n_train, epoch_offset=tracker.epoch_offset, history=history)
    callbacks += [tracker, reporting]
    return callbacks, reporting


def _tracker(config: TrainConfig, epoch_offset: int = 0, previous=None):
    from glaucoma_core.training.callbacks import BestWeights

    return BestWeights(
        monitor=config.early_stopping_monitor,
        patience=config.early_stopping_patience if config.early_stopping else None,
        restore_best=config.early_stopping_restore_best,
        epoch_offset=epoch_offset,
        best=None if previous is None else previous.best,
        best_weights=None if previous is None else previous.best_weights,
        best_epoch=0 if previous is None else previous.best_epoch,
    )


def _fit(model, train_data, valid_data, *, config, device, reporter, n_train, epochs, learning_rate,
         history, tracker, class_weight, steps_per_execution=1):
    _compile(model, config, device, learning_rate, steps_per_execution)
    callbacks, reporting = _callbacks(config, reporter, n_train, epochs, learning_rate, history, tracker)
    model.fit(train_data, validation_data=valid_data, epochs=epochs, callbacks=callbacks,
              class_weight=class_weight, shuffle=False, verbose=0)
    return reporting.cancelled


# ---- the two training paths ----------------------------------------------------------------------


def _train_on_images(model, config, device, loaded, reporter, history, *, epochs, learning_rate,
                     tracker, class_weight):
    size = config.resolved_input_size()
    augment = augmentation_layer(config)
    train = make_dataset(loaded["train"].frame, size, config.batch_size, shuffle=True, seed=config.seed,
                         augment=augment, images=loaded["train"].images)
    valid = make_dataset(loaded["valid"].frame, size, config.batch_size, images=loaded["valid"].images)
    return _fit(model, train, valid, config=config, device=device, reporter=reporter,
                n_train=len(loaded["train"].frame), epochs=epochs, learning_rate=learning_rate,
                history=history, tracker=tracker, class_weight=class_weight)


# Compiled heads of the feature path, kept between folds of one process: tracing a fresh head's
# train and test functions costs about 1.5 s per fold, more than its epochs. key -> (head, the
# values of its variables as built: initial weights and dropout seed state).
_HEADS: dict[str, tuple] = {}
_HEADS_SIZE = 2


def _compiled_head(n_features: int, config: TrainConfig, device, steps_per_epoch: int):
    """The head of ``config`` on ``n_features`` features, compiled, in its freshly built state.

    Built and compiled once per (config, n_features, steps per epoch, device) per process;
    later calls put back the weights and dropout seed state it was built with (the same as a
    fresh build after the same seeding) and zero the optimizer's state, so each fold trains as
    from a fresh head. Every callback works per epoch, so the head runs one graph call per
    epoch (``steps_per_execution`` = steps per epoch): the same steps, less Python per step.
    """
    import json

    from glaucoma_core.networks.classifier import head_model

    key = json.dumps([config.to_dict(), int(n_features), int(steps_per_epoch), device.describe()],
                     sort_keys=True, default=str)
    cached = _HEADS.get(key)
    if cached is None:
        head = head_model(n_features, config)
        initial = [variable.numpy() for variable in head.variables]
        _compile(head, config, device, config.learning_rate, steps_per_execution=steps_per_epoch, metrics=False)
        while len(_HEADS) >= _HEADS_SIZE:
            _HEADS.pop(next(iter(_HEADS)))
        _HEADS[key] = (head, initial)
        return head
    head, initial = cached
    for variable, value in zip(head.variables, initial, strict=True):
        variable.assign(value)
    optimizer = head.optimizer
    for variable in optimizer.variables:
        if not variable.path.endswith("learning_rate"):
            variable.assign(variable.numpy() * 0)
    optimizer.learning_rate = float(config.learning_rate)
    head.stop_training = False
    return head


@dataclass
class FeatureSplit:
    """The usable rows of one split and their pooled backbone features (the feature path).

    Attributes:
        frame: the rows whose features exist (index reset), same order as ``features``.
        features: float32 array (n, n_features).
        problems: {path: reason} of rows whose image did not decode.
    """

    frame: pd.DataFrame
    features: object
    problems: dict = field(default_factory=dict)


def _features_of_splits(config: TrainConfig, splits, size: int, device, home, info: dict):
    """Pooled features of every split from the frozen backbone, decoding only uncached images.

    Returns (extractor, {split: FeatureSplit}); ``info['feature_cache']`` says how many
    features were computed and reused.
    """
    from glaucoma_core.training.feature_cache import FeatureCache, feature_key
    from glaucoma_core.training.frozen_backbone import frozen_extractor

    started = time.perf_counter()
    extractor = frozen_extractor(config, device.policy)
    cache = FeatureCache(feature_key(config), home)

    def decode(rows):  # not kept in the decoded-image cache: once its features exist, never read again
        return load_images(rows, size, cache=None, preparation=config)

    parts = {}
    for name in ("train", "valid", "test"):
        rows, features, problems = cache.features_of_rows(extractor, getattr(splits, name), decode)
        parts[name] = FeatureSplit(rows, features, problems)
    info["feature_cache"] = {"id": cache.id, "computed": cache.computed, "reused": cache.reused,
                             "seconds": round(time.perf_counter() - started, 3)}
    return extractor, parts


def _train_head_on_features(config, device, parts, reporter, history, *, tracker, class_weight):
    """Fit the head of ``config`` on the train features, validating on the valid features.

    Returns (head, cancelled). The head's initial weights depend on the config's seed only
    (seeded here), not on what this process built before.
    """
    import keras

    from glaucoma_core.training.callbacks import FeatureEpochMetrics

    keras.utils.set_random_seed(int(config.seed))
    train, valid = parts["train"], parts["valid"]
    steps = max(1, math.ceil(len(train.frame) / config.batch_size))
    head = _compiled_head(train.features.shape[1], config, device, steps)
    train_data = array_dataset(train.features, train.frame["label"], config.batch_size, shuffle=True, seed=config.seed)
    valid_data = array_dataset(valid.features, valid.frame["label"], config.batch_size)
    callbacks, reporting = _callbacks(config, reporter, n_train=len(train.frame), epochs=config.epochs,
                                      learning_rate=config.learning_rate, history=history, tracker=tracker)
    labels = {name: parts[name].frame["label"].astype(int).to_numpy() for name in ("train", "valid")}
    metrics = FeatureEpochMetrics((train.features, labels["train"]), (valid.features, labels["valid"]))
    callbacks.insert(0, metrics)  # first: the tracker and the reporter read what it puts in the logs
    head.fit(train_data, validation_data=valid_data, epochs=config.epochs, callbacks=callbacks,
             class_weight=class_weight, shuffle=False, verbose=0)
    return head, reporting.cancelled


def _head_probabilities(head):
    """FeatureSplit -> P(glaucoma) from the trained head on its features (the feature path).

    Same numbers as the full classifier on the images up to float rounding: the classifier is
    the extractor followed by these head layers with these weights.
    """
    import numpy as np

    def probabilities(part: FeatureSplit) -> np.ndarray:
        return np.asarray(head(part.features, training=False), dtype=np.float64)[:, 1]

    return probabilities


# ---- after training ----------------------------------------------------------------------------


def _is_float32(model) -> bool:
    return all(getattr(getattr(layer, "dtype_policy", None), "name", "float32") == "float32"
               for layer in model.layers)


def export_model(config: TrainConfig, trained):
    """A float32, uncompiled model with the weights of ``trained`` for saving (same graph).

    ``trained`` itself (made fully trainable) when it is already float32 and uncompiled (the
    feature path trains a separate head and never compiles the full model); else a copy.
    """
    from glaucoma_core.networks.classifier import build_classifier
    from glaucoma_core.training.device import dtype_policy

    if not getattr(trained, "compiled", False) and _is_float32(trained):
        trained.trainable = True
        return trained

    with dtype_policy("float32"):
        fresh = build_classifier(config, load_weights=False)
    for target, source in zip(fresh.layers, trained.layers, strict=True):
        if target.weights:
            target.set_weights(source.get_weights())
    fresh.trainable = True
    return fresh


def _predictions(model, loaded: dict, probabilities=None) -> pd.DataFrame:
    """Per-image predictions of the valid and test splits.

    Args:
        model: the classifier (used when ``probabilities`` is None).
        loaded: per split, the decoded images (LoadedImages) or their features (FeatureSplit).
        probabilities: optional part -> P(glaucoma) array (the feature path's head).
    """
    from glaucoma_core.training.predict import predict_probabilities

    if probabilities is None:
        def probabilities(part):
            return predict_probabilities(model, part.images)

    parts = []
    for split in ("valid", "test"):
        part = loaded.get(split)
        if part is None or part.frame.empty:
            continue
        frame = part.frame
        parts.append(pd.DataFrame({
            "split": split,
            "path": frame["path"].astype(str).to_numpy(),
            "sha256": frame["sha256"].astype(str).to_numpy(),
            "label": frame["label"].astype(int).to_numpy(),
            "probability": probabilities(part),
        }))
    if not parts:
        return pd.DataFrame(columns=["split", "path", "sha256", "label", "probability"])
    return pd.concat(parts, ignore_index=True)


# ---- the fold ----------------------------------------------------------------------------------


def train_fold(config: TrainConfig, index: pd.DataFrame, fold: int | None, *, reporter=None,
               home=None) -> FoldResult:
    """Train ``config`` on fold ``fold`` of ``index`` and predict its valid and test images.

    Args:
        config: the training config (validated here against the fold's size).
        index: the dataset index (see glaucoma_core.data.index.scan_dataset).
        fold: fold number; None for a flat index (splits from the index, else 10 % of the
            training rows are held out for validation).
        reporter: receives progress (see glaucoma_core.training.reporting); None = silent.
        home: workbench home (the feature cache lives under it).

    Raises ConfigError for a config the fold cannot use (e.g. batch larger than the data),
    ValueError when the fold has no usable training or validation images.
    """
    import keras

    from glaucoma_core.networks.classifier import build_classifier, copy_head_weights, set_trainable
    from glaucoma_core.training.device import configure_device, dtype_policy
    from glaucoma_core.training.frozen_backbone import classifier_with_head

    started = time.perf_counter()
    reporter = reporter or Reporter()
    splits = fold_splits(index, fold, seed=config.seed)
    # The weights file is not test-loaded here: building the backbone below loads it and
    # raises the same WeightsError; callers (CLI, job API) validate it fully before starting.
    config.validate(n_train_images=len(splits.train), check_weights_file=False)
    size = config.resolved_input_size()
    device = configure_device(config)
    use_features = config.uses_feature_cache
    info: dict = {}

    # the config's fundus preparation (and resolution normalisation): the same on every path
    def decode(rows):
        return load_images(rows, size, preparation=config)

    decode_started = time.perf_counter()
    if use_features:  # the backbone built once per process; only images without features decoded
        extractor, parts = _features_of_splits(config, splits, size, device, home, info)
        cache = info["feature_cache"]
        reporter.log(f"features: {cache['computed']} computed, {cache['reused']} from cache "
                     f"({cache['seconds']:.1f} s)")
    else:
        parts = {name: decode(getattr(splits, name)) for name in ("train", "valid", "test")}
        reporter.log(f"decoded {sum(len(part.frame) for part in parts.values())} images at {size} px in "
                     f"{time.perf_counter() - decode_started:.1f} s")
    problems = {path: reason for part in parts.values() for path, reason in part.problems.items()}
    skipped_paths = {**splits.skipped_paths, **problems}
    skipped = splits.skipped + len(problems)
    n_train, n_valid, n_test = (len(parts[s].frame) for s in ("train", "valid", "test"))
    if skipped:
        reporter.log(f"skipped {skipped} unusable image(s) of fold {fold}")
    if n_train == 0 or n_valid == 0:
        raise ValueError(f"fold {fold} has {n_train} usable training and {n_valid} validation images; need both")
    if config.batch_size > n_train:
        raise ConfigError("batch_size", f"batch size {config.batch_size} is larger than the {n_train} usable training images")
    for split in ("train", "valid"):
        if parts[split].frame["label"].nunique() < 2:
            reporter.log(f"warning: the {split} images of fold {fold} hold one class only")

    info.update({
        "epochs": config.epochs + config.fine_tune_epochs,
        "n_train": n_train, "n_valid": n_valid, "n_test": n_test,
        "steps_per_epoch": math.ceil(n_train / config.batch_size),
        "path": "features" if use_features else "images",
        "device": device.describe(),
        "input_size": size,
        "skipped_images": skipped,
        "preparation": preparation_summary(
            [sha for part in parts.values() for sha in part.frame["sha256"].astype(str)], size, config),
    })
    reporter.on_train_begin(dict(info))
    class_weight = config.class_weight_map(parts["train"].frame["label"])

    history: list[dict] = []
    tracker = _tracker(config)
    probabilities = None  # the feature path predicts from features (no image decoded again)
    if use_features:
        head, cancelled = _train_head_on_features(config, device, parts, reporter, history, tracker=tracker,
                                                  class_weight=class_weight)
        if config.fine_tune_epochs and not cancelled:  # the backbone will change: a model of its own
            parts = {name: decode(part.frame) for name, part in parts.items()}
            with dtype_policy(device.policy):
                model = build_classifier(config)
            copy_head_weights(head, model)
            # the fine-tuning phase tracks the full model: the best value so far, its weights
            tracker.best_weights = model.get_weights() if tracker.best_weights is not None else None
        else:
            model = classifier_with_head(extractor, head, config)
            probabilities = _head_probabilities(head)
    else:
        keras.backend.clear_session()
        keras.utils.set_random_seed(int(config.seed))
        with dtype_policy(device.policy):
            model = build_classifier(config)
        cancelled = _train_on_images(model, config, device, parts, reporter, history, epochs=config.epochs,
                                     learning_rate=config.learning_rate, tracker=tracker,
                                     class_weight=class_weight)
    if config.fine_tune_epochs and not cancelled:
        reporter.log(f"fine-tuning the last {config.fine_tune_layers} backbone layers "
                     f"for {config.fine_tune_epochs} epochs")
        set_trainable(model, "last_n", config.fine_tune_layers)
        tracker = _tracker(config, epoch_offset=len(history), previous=tracker)
        cancelled = _train_on_images(model, config, device, parts, reporter, history,
                                     epochs=config.fine_tune_epochs,
                                     learning_rate=config.fine_tune_learning_rate, tracker=tracker,
                                     class_weight=class_weight)
    best_epoch = tracker.best_epoch or len(history)

    final = export_model(config, model)
    predictions = _predictions(final, parts, probabilities)
    info["skipped_paths"] = skipped_paths
    seconds = time.perf_counter() - started
    reporter.log(f"fold {fold}: best epoch {best_epoch} of {len(history)}, {seconds:.1f} s"
                 + (" (cancelled)" if cancelled else ""))
    return FoldResult(final, history, predictions, int(best_epoch), bool(cancelled), int(skipped),
                      float(seconds), info)
