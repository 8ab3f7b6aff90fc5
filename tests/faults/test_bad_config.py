"""Bad configurations are refused with the field at fault and why, before anything trains."""

from __future__ import annotations

import codecs
import json
import math
import os
import threading
from pathlib import Path

import pytest

from glaucoma_core.config import FIELDS, ConfigError, TrainConfig

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


# ---- issue 17 item 7: every number finite and in range, booleans as text, file encodings ----------

NUMERIC = [s for s in FIELDS if s.kind in ("int", "float")]


def test_every_numeric_field_and_backbone_option_declares_a_finite_range():
    """The class, not the instances: a number without both bounds could take 10**9 or 2**70."""
    from glaucoma_core.networks.registry import get_backbone, list_backbones

    options = [s for name in list_backbones() for s in get_backbone(name).settings]
    for declared in NUMERIC + [s for s in options if s.kind in ("int", "float", "int_list")]:
        assert declared.low is not None and declared.high is not None, declared.name
        assert math.isfinite(declared.low) and math.isfinite(declared.high), declared.name


@pytest.mark.parametrize("field", [s.name for s in NUMERIC if s.kind == "float"])
@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_floats_are_refused_for_every_float_field(field, value):
    error = _refused(TrainConfig(**{field: value}), field)
    assert "finite" in error.message or "range" in error.message or "in " in error.message


@pytest.mark.parametrize(("field", "text"), [
    ("augment_rotation", "nan"), ("learning_rate", "NaN"), ("head_dropout", "inf"), ("augment_zoom", "-inf"),
    ("seed", str(2**70)), ("seed", "1e30"), ("seed", "-1"), ("seed", str(2**32)), ("seed", "inf"),
    ("epochs", str(10**9)), ("batch_size", str(10**9)), ("input_size", str(10**6)), ("input_size", "0"),
    ("head_dense_units", str(10**9)), ("trainable_layers", str(10**9)), ("fine_tune_epochs", str(10**9)),
    ("early_stopping_patience", "-3"), ("learning_rate", "1e9"), ("weight_decay", "5"), ("focal_gamma", "1e6"),
    ("seed", "1" * 5000),
])
def test_out_of_range_numbers_from_set_strings_are_refused_naming_the_field(field, text):
    """What the CLI's --set and the form pass: the issue's own cases (nan rotation recorded, then
    "training diverged"; seed 2**70 recorded, then a Keras error) and their relatives."""
    config = TrainConfig().with_overrides({field: text})
    error = _refused(config, field)
    assert len(error.message) < 200  # a 5000-digit number is not echoed back


def test_the_largest_keras_seed_is_accepted_and_the_next_refused():
    assert TrainConfig().with_overrides({"seed": str(2**32 - 1)}).validate().seed == 2**32 - 1
    _refused(TrainConfig(seed=2**32), "seed")


def test_non_finite_numbers_in_a_json_file_are_refused(tmp_path):
    """Python's json reads NaN and Infinity literals; they must not reach the trainer."""
    path = tmp_path / "config.json"
    path.write_text('{"augment_rotation": NaN, "seed": 0}')
    _refused(TrainConfig.from_json(path), "augment_rotation")
    path.write_text('{"learning_rate": Infinity}')
    _refused(TrainConfig.from_json(path), "learning_rate")
    path.write_text('{"class_weight": {"0": 1, "1": NaN}}')
    _refused(TrainConfig.from_json(path), "class_weight")


@pytest.mark.parametrize(("backbone", "options"), [
    ("mobilenetv2", {"alpha": math.nan}), ("mobilenetv2", {"alpha": math.inf}), ("mobilenetv2", {"alpha": 100.0}),
    ("small_cnn", {"crop_size": 10**9}), ("small_cnn", {"filters": [8, 10**9]}), ("small_cnn", {"disc_crop": math.nan}),
    ("small_cnn", {"convs_per_block": 10**6}), ("small_cnn", {"filters": [8] * 100}),
])
def test_backbone_options_are_range_checked_by_their_backbone(backbone, options):
    weights = "none" if backbone == "small_cnn" else "imagenet"
    trainable = "all" if backbone == "small_cnn" else "head"
    _refused(TrainConfig(backbone=backbone, backbone_options=options, weights=weights, trainable=trainable),
             "backbone_options")


def test_mobilenet_declares_which_widths_have_imagenet_weights():
    error = _refused(TrainConfig(backbone="mobilenetv2", backbone_options={"alpha": 0.6}, weights="imagenet",
                                 trainable="head"), "backbone_options")
    assert "0.35" in error.message
    TrainConfig(backbone="mobilenetv2", backbone_options={"alpha": 0.6}, weights="none").validate()


@pytest.mark.parametrize(("text", "expected"), [("false", False), ("False", False), ("no", False), ("off", False),
                                                ("0", False), ("true", True), ("YES", True), ("1", True)])
def test_booleans_given_as_text_are_read_as_booleans(tmp_path, text, expected):
    """'false' is a truthy string: read as text it would switch augmentation *on*."""
    assert TrainConfig().with_overrides({"augment_hflip": text}).augment_hflip is expected
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"augment_hflip": text, "early_stopping": text}))
    config = TrainConfig.from_json(path).validate()
    assert config.augment_hflip is expected and config.early_stopping is expected
    assert config.augmentation_on is expected


@pytest.mark.parametrize("value", ["false", "maybe", 2, 0.5, [], None])
def test_a_boolean_field_holding_anything_else_is_refused(value):
    _refused(TrainConfig(augment_hflip=value), "augment_hflip")
    if isinstance(value, str) and value != "false":  # through --set, "false" is read as False
        _refused(TrainConfig().with_overrides({"early_stopping": value}), "early_stopping")


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be-bom", "utf-8-sig", "utf-32"])
def test_config_file_in_utf16_or_with_a_byte_order_mark_is_read(tmp_path, encoding):
    """What PowerShell's `>` writes (UTF-16 LE with a BOM), Notepad's UTF-8 with a BOM, and kin."""
    config = TrainConfig(epochs=3, weights="/data/ünïcode/w.h5", augment_hflip=True)
    text = config.to_json()
    if encoding == "utf-16-be-bom":
        data = codecs.BOM_UTF16_BE + text.encode("utf-16-be")
    else:
        data = text.encode(encoding)  # Python's utf-16 and utf-32 write a BOM (little-endian here)
    path = tmp_path / "config.json"
    path.write_bytes(data)
    assert TrainConfig.from_json(path) == config
    assert TrainConfig.from_json(str(path)) == config


def test_config_text_with_a_byte_order_mark_is_read():
    assert TrainConfig.from_json("\ufeff" + TrainConfig(epochs=4).to_json()).epochs == 4


@pytest.mark.parametrize("data", [b'{"epochs": 3, "weights": "caf\xe9"}', b"\xff\xfe{\x00\x00", b"\x00" * 7])
def test_config_file_in_another_encoding_is_refused_with_a_message(tmp_path, data):
    path = tmp_path / "config.json"
    path.write_bytes(data)
    with pytest.raises(ConfigError) as caught:  # never UnicodeDecodeError
        TrainConfig.from_json(path)
    assert caught.value.field == "config"


@pytest.mark.parametrize("text", ['{"seed": ' + "9" * 5000 + "}", "[" * 100_000 + "]" * 100_000,
                                  '{"epochs": 3, "epochs": "x"'])
def test_json_python_cannot_hold_is_refused_with_a_message(tmp_path, text):
    """A 5000-digit number raises ValueError (not JSONDecodeError) and deep nesting RecursionError."""
    path = tmp_path / "config.json"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        TrainConfig.from_json(path)
    assert caught.value.field == "config"


def test_set_strings_python_cannot_parse_are_refused_naming_the_field():
    nested = "[" * 100_000 + "]" * 100_000
    _refused(TrainConfig().with_overrides({"backbone_options": nested}), "backbone_options")
    _refused(TrainConfig().with_overrides({"class_weight": "{" * 50_000}), "class_weight")


def test_config_file_that_is_a_fifo_or_a_device_is_refused_at_once(tmp_path):
    """Opening a FIFO for reading waits for a writer: it must be refused without blocking."""
    fifo = tmp_path / "config.json"
    os.mkfifo(fifo)
    outcome: list = []

    def read(path):
        try:
            TrainConfig.from_json(path)
        except ConfigError as error:
            outcome.append(error)

    for path in (fifo, Path("/dev/zero")):
        outcome.clear()
        worker = threading.Thread(target=read, args=(path,), daemon=True)
        worker.start()
        worker.join(timeout=10)
        assert not worker.is_alive(), f"reading {path} blocked"
        assert outcome and outcome[0].field == "config", outcome


def test_config_file_larger_than_any_config_is_refused(tmp_path):
    path = tmp_path / "config.json"
    path.write_text('{"epochs": 3' + " " * (3 << 20) + "}")  # valid JSON, but no config is 3 MiB
    with pytest.raises(ConfigError) as caught:
        TrainConfig.from_json(path)
    assert caught.value.field == "config" and "too large" in caught.value.message


@pytest.mark.parametrize("weights", ["model\x00.h5", "x" * 5000 + ".h5"])
def test_weights_path_the_system_cannot_open_is_refused_naming_weights(weights):
    _refused(TrainConfig(weights=weights), "weights")
