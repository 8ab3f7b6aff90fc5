"""Bad configurations are refused with the field at fault and why, before anything trains."""

from __future__ import annotations

from pathlib import Path

import pytest

from glaucoma_core.config import ConfigError, TrainConfig

SHARED_IMAGENET = Path(__file__).resolve().parents[2].parent / "shared" / "imagenet"
MOBILENET_050 = SHARED_IMAGENET / "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.5_224_no_top.h5"


def _refused(config: TrainConfig, field: str, **kwargs) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        config.validate(**kwargs)
    assert caught.value.field == field, caught.value
    assert field in str(caught.value)
    return caught.value


def test_unknown_backbone():
    error = _refused(TrainConfig(backbone="vgg17"), "backbone")
    assert "vgg17" in error.message and "vgg16" in error.message  # says what exists


def test_negative_learning_rate():
    error = _refused(TrainConfig(learning_rate=-0.01), "learning_rate")
    assert "-0.01" in error.message
    _refused(TrainConfig(learning_rate=0.0), "learning_rate")


def test_batch_larger_than_the_data():
    error = _refused(TrainConfig(batch_size=64), "batch_size", n_train_images=50)
    assert "64" in error.message and "50" in error.message
    TrainConfig(batch_size=50).validate(n_train_images=50)


@pytest.mark.parametrize(("backbone", "size"), [("inceptionv3", 64), ("xception", 70), ("small_cnn", 16)])
def test_input_size_the_backbone_cannot_take(backbone, size):
    weights = "none" if backbone == "small_cnn" else "imagenet"
    error = _refused(TrainConfig(backbone=backbone, weights=weights, input_size=size), "input_size")
    assert str(size) in error.message and backbone in error.message


def test_input_size_not_a_number():
    _refused(TrainConfig(input_size=-5), "input_size")
    with pytest.raises(ConfigError) as caught:
        TrainConfig().with_overrides({"input_size": "big"}).validate()
    assert caught.value.field == "input_size"


def test_weights_file_of_another_network(tmp_path):
    import keras

    from glaucoma_core.networks.registry import get_backbone

    spec = get_backbone("small_cnn")
    keras.utils.set_random_seed(0)
    other = spec.constructor(keras.Input((64, 64, 3)), None, **spec.options)
    path = tmp_path / "small_cnn.weights.h5"
    other.save_weights(path)
    config = TrainConfig(backbone="mobilenetv2", backbone_options={"alpha": 0.35}, weights=str(path),
                         trainable="head", input_size=64)
    error = _refused(config, "weights")
    assert str(path) in error.message and "mobilenetv2" in error.message


@pytest.mark.skipif(not MOBILENET_050.exists(), reason="../shared/imagenet not available")
def test_imagenet_file_of_another_width(tmp_path):
    config = TrainConfig(backbone="mobilenetv2", backbone_options={"alpha": 0.35}, weights=str(MOBILENET_050),
                         trainable="head", input_size=96)
    error = _refused(config, "weights")
    assert "alpha=0.35" in error.message


def test_weights_file_that_is_not_a_weights_file(tmp_path):
    path = tmp_path / "notes.h5"
    path.write_text("these are not weights")
    _refused(TrainConfig(backbone="small_cnn", weights=str(path)), "weights")


def test_missing_weights_file(tmp_path):
    error = _refused(TrainConfig(weights=str(tmp_path / "nope.h5")), "weights")
    assert "not found" in error.message


def test_imagenet_for_a_network_without_imagenet_weights():
    _refused(TrainConfig(backbone="small_cnn", weights="imagenet"), "weights")


@pytest.mark.parametrize(("field", "value"), [
    ("optimizer", "adagrad"), ("lr_schedule", "step"), ("loss", "hinge"), ("trainable", "some"),
    ("head_dropout", 1.0), ("epochs", 0), ("mixed_precision", "maybe"), ("augment_rotation", -5.0),
    ("early_stopping_monitor", "val_banana"), ("class_weight", {"0": 1, "2": 1}),
])
def test_other_bad_values_name_their_field(field, value):
    _refused(TrainConfig(**{field: value}), field)


def test_train_fold_refuses_batch_larger_than_the_fold_before_training(tmp_path):
    import pandas as pd

    from glaucoma_core.training.reporting import RecordingReporter
    from glaucoma_core.training.trainer import train_fold

    rows = [{"path": str(tmp_path / f"{i}.png"), "sha256": f"{i:064d}", "fold": 1, "split": split,
             "label": i % 2, "problem": ""} for i, split in enumerate(["train"] * 6 + ["valid"] * 2)]
    reporter = RecordingReporter()
    with pytest.raises(ConfigError) as caught:
        train_fold(TrainConfig(batch_size=32), pd.DataFrame(rows), 1, reporter=reporter)
    assert caught.value.field == "batch_size"
    assert reporter.info is None  # nothing started


@pytest.mark.parametrize("options", [{"filters": []}, {"filters": [8, -1]}, {"disc_crop": 1.5}, {"crop_size": 4},
                                     {"alpha": 0.35}])
def test_bad_backbone_options(options):
    _refused(TrainConfig(backbone="small_cnn", backbone_options=options), "backbone_options")
