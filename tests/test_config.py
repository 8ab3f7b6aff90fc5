"""TrainConfig: JSON in and out, overrides, presets, derived settings."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import pytest

from glaucoma_core.config import PRESETS, ConfigError, TrainConfig, get_preset, preset_descriptions


def test_default_config_is_valid():
    TrainConfig().validate()


def test_json_round_trip(tmp_path):
    config = get_preset("cpu-transfer")
    path = tmp_path / "config.json"
    config.to_json(path)
    assert TrainConfig.from_json(path) == config
    assert TrainConfig.from_json(config.to_json()) == config
    assert TrainConfig.from_dict(json.loads(config.to_json())).to_dict() == config.to_dict()


def test_from_dict_refuses_unknown_keys():
    with pytest.raises(ConfigError) as caught:
        TrainConfig.from_dict({"learning_rte": 0.1})
    assert caught.value.field == "learning_rte"


def test_from_json_refuses_bad_json(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text("{not json")
    with pytest.raises(ConfigError) as caught:
        TrainConfig.from_json(path)
    assert caught.value.field == "config"
    with pytest.raises(ConfigError):
        TrainConfig.from_json(tmp_path / "missing.json")


def test_overrides_parse_strings_to_field_types():
    config = TrainConfig().with_overrides({
        "learning_rate": "1e-4", "epochs": "3", "head.dropout": "0.5", "augment_hflip": "true",
        "input_size": "96", "backbone_options.filters": "[8, 16]", "class_weight": "balanced",
        "weights": "none", "xla": "off", "early-stopping-patience": "2",
    })
    assert config.learning_rate == pytest.approx(1e-4)
    assert config.epochs == 3 and isinstance(config.epochs, int)
    assert config.head_dropout == 0.5
    assert config.augment_hflip is True
    assert config.input_size == 96
    assert config.backbone_options == {"filters": [8, 16]}
    assert config.class_weight == "balanced"
    assert config.early_stopping_patience == 2
    config.validate()


def test_changing_backbone_drops_the_old_backbones_options():
    small = get_preset("cpu-small")
    assert "filters" in small.backbone_options
    switched = small.with_overrides({"backbone": "mobilenetv2", "input_size": "64"})
    assert switched.backbone_options == {}
    switched.validate(check_weights_file=False)
    kept = small.with_overrides({"backbone": "mobilenetv2", "backbone_options.alpha": "0.5"})
    assert kept.backbone_options == {"alpha": 0.5}


def test_override_of_unknown_key_names_it():
    with pytest.raises(ConfigError) as caught:
        TrainConfig().with_overrides({"lerning_rate": "0.1"})
    assert caught.value.field == "lerning_rate"


def test_every_preset_validates_and_is_described():
    descriptions = preset_descriptions()
    assert list(descriptions) == list(PRESETS)
    for name in ["paper-vgg16", "paper-vgg19", "paper-inceptionv3", "paper-resnet50", "paper-xception",
                 "seed-frozen", "cpu-small", "cpu-transfer"]:
        config = get_preset(name)
        config.validate()
        assert descriptions[name]


def test_paper_presets_use_native_sizes_and_imagenet():
    sizes = {"paper-vgg16": 224, "paper-vgg19": 224, "paper-inceptionv3": 299, "paper-resnet50": 224,
             "paper-xception": 299}
    for name, size in sizes.items():
        config = get_preset(name)
        assert config.resolved_input_size() == size
        assert config.weights == "imagenet" and config.trainable == "all"


def test_seed_frozen_matches_the_course_protocol():
    config = get_preset("seed-frozen")
    assert config.trainable == "head" and config.weights == "imagenet"
    assert (config.optimizer, config.learning_rate, config.batch_size, config.epochs) == ("adam", 1e-3, 32, 80)
    assert config.early_stopping and config.loss == "categorical_crossentropy"
    assert config.uses_feature_cache


def test_cpu_transfer_is_frozen_mobilenet():
    config = get_preset("cpu-transfer")
    assert config.backbone == "mobilenetv2" and config.resolved_backbone_options()["alpha"] == 0.35
    assert config.uses_feature_cache


def test_get_preset_returns_a_copy_and_names_unknown_presets():
    config = get_preset("cpu-small")
    config.epochs = 999
    assert get_preset("cpu-small").epochs != 999
    with pytest.raises(ConfigError) as caught:
        get_preset("no-such-preset")
    assert caught.value.field == "preset"


def test_input_size_defaults_to_the_backbone():
    assert TrainConfig(backbone="xception", weights="imagenet").resolved_input_size() == 299
    assert TrainConfig(backbone="xception", weights="imagenet", input_size=150).resolved_input_size() == 150


def test_feature_cache_only_when_frozen_and_not_augmented():
    frozen = TrainConfig(backbone="mobilenetv2", weights="imagenet", trainable="head")
    assert frozen.uses_feature_cache
    assert not TrainConfig(**{**frozen.to_dict(), "augment_hflip": True}).uses_feature_cache
    assert not TrainConfig(**{**frozen.to_dict(), "trainable": "all"}).uses_feature_cache
    assert not TrainConfig(**{**frozen.to_dict(), "feature_cache": False}).uses_feature_cache


def test_balanced_class_weights():
    weights = TrainConfig(class_weight="balanced").class_weight_map([0, 0, 0, 1])
    assert weights[1] == pytest.approx(2.0) and weights[0] == pytest.approx(4 / 6)
    assert TrainConfig().class_weight_map([0, 1]) is None
    assert TrainConfig(class_weight={"0": 1, "1": 3}).class_weight_map([0, 1]) == {0: 1.0, 1: 3.0}


def test_importing_config_and_registry_does_not_import_tensorflow():
    code = ("import sys, glaucoma_core.config as c, glaucoma_core.networks.registry as r; "
            "c.TrainConfig().validate(); r.list_backbones(); c.preset_descriptions(); "
            "print('tensorflow' in sys.modules or 'keras' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# ---- one declaration drives everything ------------------------------------------------------------


def test_every_field_is_declared_with_group_help_and_a_valid_default():
    from glaucoma_core.config import FIELDS, GROUPS

    names = [f.name for f in dataclasses.fields(TrainConfig)]
    assert [s.name for s in FIELDS] == names
    defaults = TrainConfig().to_dict()
    for declared in FIELDS:
        assert declared.group in GROUPS and declared.help, declared.name
        assert declared.default == defaults[declared.name]
        assert declared.problem(declared.default) is None


def test_describe_fields_is_plain_data_of_the_declaration():
    from glaucoma_core.config import describe_fields

    described = describe_fields()
    assert json.loads(json.dumps(described)) == described  # JSON-able as it is
    by_name = {d["name"]: d for d in described}
    assert list(by_name) == [f.name for f in dataclasses.fields(TrainConfig)]
    assert by_name["seed"]["range"]["high"] == 2**32 - 1 and by_name["seed"]["type"] == "int"
    assert by_name["learning_rate"]["range"]["low_open"] and by_name["learning_rate"]["range"]["text"] == "(0, 10]"
    assert by_name["optimizer"]["choices"] == ["adam", "adamw", "sgd"]
    assert "vgg16" in by_name["backbone"]["choices"]
    assert by_name["input_size"]["nullable"] and by_name["input_size"]["default"] is None
    alpha = by_name["backbone_options"]["backbones"]["mobilenetv2"]
    assert [o["name"] for o in alpha] == ["alpha"] and alpha[0]["default"] == 1.0
    for entry in described:
        assert {"name", "type", "default", "group", "help"} <= set(entry)
        if entry["type"] in ("int", "float"):
            assert entry["range"]["low"] is not None and entry["range"]["high"] is not None, entry["name"]


def _as_set_text(value) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


@pytest.mark.parametrize("name", [f.name for f in dataclasses.fields(TrainConfig)])
def test_every_field_reads_back_from_its_set_text_and_json(name):
    """--set and JSON parsing come from the declaration: every field of a preset round-trips."""
    config = get_preset("cpu-transfer") if name != "backbone_options" else get_preset("cpu-small")
    value = getattr(config, name)
    assert getattr(config.with_overrides({name: _as_set_text(value)}), name) == value
    assert getattr(TrainConfig.from_dict({**config.to_dict(), name: json.loads(json.dumps(value))}), name) == value


def test_backbone_options_given_as_text_are_read_as_the_backbone_declares():
    config = get_preset("cpu-small").with_overrides({
        "backbone_options.crop_size": "48.0", "backbone_options.disc_crop": "0", "backbone_options.filters": "[8, 16.0]"})
    assert config.backbone_options == {"filters": [8, 16], "disc_crop": 0.0, "crop_size": 48}
    assert isinstance(config.backbone_options["crop_size"], int)
    assert isinstance(config.backbone_options["disc_crop"], float)
    config.validate()


def test_switches_read_booleans_as_on_and_off():
    config = TrainConfig().with_overrides({"mixed_precision": "true", "xla": "no"})
    assert (config.mixed_precision, config.xla) == ("on", "off")
    assert TrainConfig.from_dict({"xla": True, "mixed_precision": "AUTO"}).to_dict()["xla"] == "on"


def test_the_form_has_one_widget_per_declared_field_in_its_group():
    """The Streamlit form is generated from the declaration: every field, keyed and grouped."""
    from streamlit.testing.v1 import AppTest

    from glaucoma_core.config import FIELDS

    def page():
        import streamlit as st

        from app_pages._components.config_form import config_form
        from glaucoma_core.config import get_preset

        config, field, message = config_form(get_preset("cpu-small"), key="t")
        st.session_state["result"] = (config.to_dict() if config else None, field, message)

    at = AppTest.from_function(page).run(timeout=60)
    assert not at.exception, [e.value for e in at.exception]
    keys = {w.key for kind in ("number_input", "checkbox", "selectbox", "text_input") for w in at.get(kind)}
    assert {f"t_{s.name}" for s in FIELDS} <= keys
    labels = [e.label for e in at.expander]
    assert labels == [g for g in dict.fromkeys(s.group for s in FIELDS)]
    assert at.session_state["result"] == (get_preset("cpu-small").to_dict(), None, None)  # untouched = preset
    at.number_input(key="t_learning_rate").set_value(0.02)
    at.selectbox(key="t_backbone").set_value("mobilenetv2").run(timeout=60)
    config, field, message = at.session_state["result"]
    assert field is None, message
    assert config["learning_rate"] == 0.02 and config["backbone"] == "mobilenetv2"
    assert config["backbone_options"] == {}  # small_cnn's options dropped with the backbone


def test_a_field_without_a_complete_declaration_is_refused_at_import():
    """Adding a field is one place, and that place must be complete: kind, group, help, range."""
    from glaucoma_core.settings import setting_field, settings_of

    @dataclasses.dataclass
    class Plain:
        epochs: int = 3

    @dataclasses.dataclass
    class NoHelp:
        epochs: int = setting_field(3, low=1, high=10, group="Loop")

    @dataclasses.dataclass
    class BadDefault:
        epochs: int = setting_field(30, low=1, high=10, group="Loop", help="Epochs.")

    @dataclasses.dataclass
    class Good:
        epochs: int = setting_field(3, low=1, high=10, group="Loop", help="Epochs.")
        mode: str = setting_field("a", choices=("a", "b"), group="Loop", help="Mode.")

    for cls in (Plain, NoHelp, BadDefault):
        with pytest.raises(TypeError):
            settings_of(cls)
    assert [(s.name, s.kind) for s in settings_of(Good)] == [("epochs", "int"), ("mode", "choice")]
