"""CLI: train, cv, runs, presets, predict."""

from __future__ import annotations

import json

import pytest

from glaucoma_core.cli import main
from tests.training.fakes import TINY_SETTINGS, make_tiny_dataset

TINY_SET = [arg for key, value in TINY_SETTINGS.items() if key != "backbone"
            for arg in ("--set", f"{key}={value}")]


def test_presets_lists_the_cpu_presets(capsys):
    assert main(["presets"]) == 0
    out = capsys.readouterr().out
    assert "cpu-small" in out and "paper-xception" in out
    assert main(["presets", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["cpu-small"]["backbone"] == "small_cnn"


def test_runs_of_an_empty_store(tmp_path, capsys):
    assert main(["--home", str(tmp_path), "runs", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []
    assert main(["--home", str(tmp_path), "runs"]) == 0
    assert "no runs" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["train", "--fold", "1", "--preset", "no-such"], "unknown preset"),
    (["train", "--fold", "1", "--preset", "cpu-small", "--set", "learning_rate=-1"], "learning_rate"),
    (["train", "--fold", "1", "--preset", "cpu-small", "--set", "nonsense"], "KEY=VALUE"),
    (["train", "--fold", "9", "--preset", "cpu-small"], "no fold 9"),
    (["train", "--preset", "cpu-small"], "give --fold"),
    (["train", "--fold", "1"], "--preset NAME or --config FILE"),
    (["train", "--fold", "1", "--config", "/no/such/config.json"], "config file not found"),
    (["cv", "--preset", "cpu-small", "--folds", "1,x"], "--folds"),
    (["cv", "--preset", "cpu-small", "--folds", "1,5"], "no fold 5"),
    (["cv", "--resume", "404"], "no experiment"),
    (["train", "--run-id", "77"], "no run 77"),
    (["predict", "--run", "77", "x.png"], "no run 77"),
])
def test_bad_input_is_a_clear_error_not_a_traceback(tmp_path, capsys, argv, message):
    data = make_tiny_dataset(tmp_path / "data", folds=2, n_train=1, n_valid=1, n_test=1, size=8)
    if argv[0] in ("train", "cv") and "--resume" not in argv and "--run-id" not in argv:
        argv = [*argv, "--data", str(data)]
    assert main(["--home", str(tmp_path / "home"), *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_missing_data_folder(tmp_path, capsys):
    code = main(["--home", str(tmp_path), "train", "--data", str(tmp_path / "nope"), "--fold", "1",
                 "--preset", "cpu-small"])
    assert code == 2 and "nope" in capsys.readouterr().err


@pytest.mark.slow
def test_train_predict_cv_and_runs_with_the_real_trainer(tmp_path, capsys):
    data = make_tiny_dataset(tmp_path / "data", folds=2, n_train=8, n_valid=4, n_test=4, size=32)
    home = ["--home", str(tmp_path / "home")]

    assert main([*home, "train", "--data", str(data), "--fold", "1", "--preset", "cpu-small", *TINY_SET,
                 "--json"]) == 0
    trained = json.loads(capsys.readouterr().out)
    assert trained["status"] == "finished" and trained["fold"] == 1
    assert set(trained["metrics"]) == {"valid", "test"} and trained["metrics"]["test"]["n"] == 8

    image = next((data / "fold_1" / "test" / "abnormal").iterdir())
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"<html>not an image</html>")
    assert main([*home, "predict", "--run", str(trained["run_id"]), str(image), str(bad), "--json"]) == 1
    predicted = json.loads(capsys.readouterr().out)["images"]
    assert 0.0 <= predicted[0]["probability"] <= 1.0 and predicted[0]["prediction"] in ("glaucoma", "normal")
    assert predicted[1]["probability"] is None and predicted[1]["error"]

    assert main([*home, "cv", "--data", str(data), "--preset", "cpu-small", *TINY_SET, "--set", "epochs=1",
                 "--name", "tiny-cv", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["experiment"] == "exp:1" and report["status"] == "finished"
    assert [fold["fold"] for fold in report["folds"]] == [1, 2]
    per_fold = report["results"]["per_fold"]
    assert set(per_fold[0]) >= {"fold", "run_id", "auc", "accuracy", "sensitivity", "specificity",
                                "f1", "tp", "fp", "tn", "fn", "threshold"}
    assert per_fold[0]["tp"] + per_fold[0]["fn"] == 4
    assert {row["metric"] for row in report["results"]["summary"]} >= {"auc", "accuracy", "sensitivity",
                                                                        "specificity", "f1"}
    assert report["threshold_rule"] == {"method": "fixed", "target": 0.5}

    assert main([*home, "cv", "--resume", report["experiment"], "--json"]) == 0  # nothing left to train
    assert json.loads(capsys.readouterr().out)["results"]["per_fold"] == per_fold

    assert main([*home, "runs", "--json"]) == 0
    runs = json.loads(capsys.readouterr().out)
    assert len(runs) == 3 and {run["status"] for run in runs} == {"finished"}


def test_unreachable_ray_cluster_is_a_clear_error_and_fails_the_runs(tmp_path, capsys):
    import socket

    pytest.importorskip("ray")
    with socket.socket() as sock:  # a port where nothing listens
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    data = make_tiny_dataset(tmp_path / "data", folds=1, n_train=1, n_valid=1, n_test=1, size=8)
    home = ["--home", str(tmp_path / "home")]
    code = main([*home, "cv", "--data", str(data), "--preset", "cpu-small", "--set", "batch_size=1",
                 "--executor", "ray", "--address", f"127.0.0.1:{port}"])
    assert code == 2
    assert "could not connect to the Ray cluster" in capsys.readouterr().err
    assert main([*home, "runs", "--json"]) == 0
    runs = json.loads(capsys.readouterr().out)
    assert runs[0]["status"] == "failed" and "could not connect" in runs[0]["error"]
