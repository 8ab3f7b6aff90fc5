"""Bad configurations at the entry points (issue 7): refused with the field and why, before any
run is recorded and before any process starts.

tests/faults/test_bad_config.py checks ``TrainConfig.validate`` itself; this file checks that
the CLI (``train``, ``cv``) and the background-job API the app calls (``Workbench.start_training``,
``Workbench.start_cross_validation``) apply it first: the store stays empty and no training process is spawned.
"""

from __future__ import annotations

import json

import pytest

from glaucoma_core.cli import main
from glaucoma_core.config import ConfigError
from glaucoma_core.store import RunStore
from tests.training.fakes import make_tiny_dataset, tiny_config

N_TRAIN = 3  # per class: 6 training images per fold


@pytest.fixture
def setup(tmp_path, monkeypatch):
    from glaucoma_core.training import jobs

    spawned = []  # the job API starts its training processes through jobs._spawn only
    monkeypatch.setattr(jobs, "_spawn", lambda *a, **k: spawned.append(a) or pytest.fail("a process started"))
    data = make_tiny_dataset(tmp_path / "data", folds=2, n_train=N_TRAIN, n_valid=2, n_test=1, size=16)
    return data, tmp_path / "home", spawned


@pytest.fixture(scope="module")
def other_network_weights(tmp_path_factory):
    """A weights file saved from a small_cnn: not a mobilenetv2's."""
    import keras

    from glaucoma_core.networks.registry import get_backbone

    spec = get_backbone("small_cnn")
    keras.utils.set_random_seed(0)
    model = spec.constructor(keras.Input((64, 64, 3)), None, **spec.options)
    path = tmp_path_factory.mktemp("weights") / "small_cnn.weights.h5"
    model.save_weights(path)
    return path


BAD = {  # name: (--set overrides, field named in the message)
    "unknown backbone": ({"backbone": "vgg17"}, "backbone"),
    "negative learning rate": ({"learning_rate": "-0.01"}, "learning_rate"),
    "batch larger than the data": ({"batch_size": "64"}, "batch_size"),
    "input size the backbone cannot take": ({"backbone": "inceptionv3", "backbone_options": "{}", "weights": "none",
                                             "input_size": "64"},
                                            "input_size"),
    "non-finite number (issue 17 item 7)": ({"augment_rotation": "nan"}, "augment_rotation"),
    "seed Keras cannot take (issue 17 item 7)": ({"seed": str(2**70)}, "seed"),
    "absurd epoch count (issue 17 item 7)": ({"epochs": str(10**9)}, "epochs"),
    "weights of another network": ({"backbone": "mobilenetv2", "backbone_options": '{"alpha": 0.35}',
                                    "trainable": "head", "input_size": "64", "weights": "{weights}"}, "weights"),
}


def _overrides(case: str, weights) -> dict[str, str]:
    sets, _ = BAD[case]
    return {k: v.replace("{weights}", str(weights)) for k, v in sets.items()}


def _needs_weights(case: str):
    return pytest.param(case, marks=pytest.mark.slow) if "weights" in case else case


CASES = [_needs_weights(c) for c in BAD]


@pytest.fixture
def weights_for(request):
    def get(case):
        return request.getfixturevalue("other_network_weights") if "weights" in case else None
    return get


@pytest.mark.parametrize("command", ["train", "cv"])
@pytest.mark.parametrize("case", CASES)
def test_cli_refuses_bad_config_before_recording_anything(setup, capsys, case, command, weights_for):
    data, home, spawned = setup
    sets = [x for k, v in _overrides(case, weights_for(case)).items() for x in ("--set", f"{k}={v}")]
    where = ["--fold", "1"] if command == "train" else []
    code = main(["--home", str(home), command, "--data", str(data), *where, "--preset", "cpu-small", *sets])
    err = capsys.readouterr().err
    assert code == 2, err
    field = BAD[case][1]
    assert field in err and "Traceback" not in err, err
    store = RunStore(home)
    assert store.runs().empty and store.experiments().empty and not spawned


@pytest.mark.parametrize("job", ["start_training_job", "start_cv_job"])
@pytest.mark.parametrize("case", CASES)
def test_job_api_refuses_bad_config_before_any_process(setup, case, job, weights_for):
    from glaucoma_core.workbench import Workbench

    data, home, spawned = setup
    config = tiny_config().with_overrides(_overrides(case, weights_for(case)))
    with pytest.raises(ConfigError) as caught:
        if job == "start_training_job":
            Workbench(home).start_training(config, data, 1)
        else:
            Workbench(home).start_cross_validation(config, data)
    assert caught.value.field == BAD[case][1], caught.value
    store = RunStore(home)
    assert store.runs().empty and store.experiments().empty and not spawned


@pytest.mark.parametrize("command", ["train", "cv"])
@pytest.mark.parametrize(("encoding", "seed", "said"), [("utf-16", 2**70, "seed: must be"),
                                                        ("utf-8-sig", -1, "seed: must be"), ("latin-1", 0, "UTF-8")])
def test_cli_reads_a_utf16_config_file_and_refuses_its_bad_values(setup, capsys, tmp_path, command, encoding, seed,
                                                                   said):
    """A config file as PowerShell's `>` writes it (UTF-16 with a BOM) is read, so the bad seed in it
    is what the user is told about; a file in another encoding gets a message, not a traceback."""
    data, home, spawned = setup
    settings = {**tiny_config().to_dict(), "seed": seed, "weights": "caf\u00e9" if encoding == "latin-1" else "none"}
    path = tmp_path / "config.json"
    path.write_bytes(json.dumps(settings, ensure_ascii=False).encode(encoding))
    where = ["--fold", "1"] if command == "train" else []
    code = main(["--home", str(home), command, "--data", str(data), *where, "--config", str(path)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert said in err and "Traceback" not in err and "UnicodeDecodeError" not in err, err
    store = RunStore(home)
    assert store.runs().empty and store.experiments().empty and not spawned
