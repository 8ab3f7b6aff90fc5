"""The study commands as a user runs them: JSON shape, references, a real process killed
half-way and resumed with no fold trained twice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# A real but tiny trainer: the small CNN at 32 px, 1 epoch, instead of the preset's MobileNetV2.
TINY = ["--set", "backbone=small_cnn", "--set", "weights=none", "--set", "trainable=all", "--set", "input_size=32",
        "--set", "batch_size=4", "--set", "epochs=1", "--set", "early_stopping=false",
        "--space", '{"head_dropout": {"low": 0.0, "high": 0.5}, "learning_rate": {"low": 1e-3, "high": 1e-2, '
                   '"log": true}}', "--sampler", "random", "--pruner", "none"]


def command(home: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "glaucoma_core", "--home", str(home), "study", *args]


def env() -> dict:
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}


def cli(home: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(command(home, *args), cwd=REPO, env=env(), capture_output=True, text=True, timeout=timeout)


def test_help_lists_the_subcommands():
    result = subprocess.run([sys.executable, "-m", "glaucoma_core", "study", "--help"], cwd=REPO, env=env(),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0
    for sub in ("create", "run", "resume", "show", "list"):
        assert sub in result.stdout


def test_bad_input_is_one_line_without_a_traceback(tmp_path, study_data):
    result = cli(tmp_path / "home", "create", "--preset", "cpu-transfer-head", "--data", str(study_data),
                 "--space", '{"no_such_field": [1]}')
    assert result.returncode == 2 and "not a configuration field" in result.stderr
    assert "Traceback" not in result.stderr
    result = cli(tmp_path / "home", "show", "study:5")
    assert result.returncode == 2 and "no study" in result.stderr
    result = cli(tmp_path / "home", "resume", "study:5", "--executor", "local", "--address", "127.0.0.1:6379")
    assert result.returncode == 2 and "--address is for --executor ray" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_killed_study_process_resumes_without_training_a_fold_twice(tmp_path, study_data):
    from glaucoma_core.store.run_store import RunStore

    home = tmp_path / "home"
    created = cli(home, "create", "--preset", "cpu-transfer-head", "--data", str(study_data), *TINY,
                  "--trials", "2", "--json")
    assert created.returncode == 0, created.stderr[-3000:]
    study = json.loads(created.stdout)["study"]
    assert json.loads(cli(home, "list", "--json").stdout)[0]["study"] == study
    process = subprocess.Popen(command(home, "resume", study), cwd=REPO, env=env(), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    store = RunStore(home)
    deadline = time.time() + 400
    try:
        while time.time() < deadline:  # kill it after its second fold, in the middle of the study
            runs = store.runs()
            if len(runs) and (runs["status"] == "finished").sum() >= 2:
                break
            assert process.poll() is None, "the study ended before it could be killed"
            time.sleep(0.2)
        else:
            pytest.fail("the study did not finish two folds in time")
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    finished_before = set(store.runs().query("status == 'finished'")["id"])
    assert 2 <= len(finished_before) < 6
    shown = json.loads(cli(home, "show", study, "--json").stdout)
    assert shown["status"] == "incomplete"
    resumed = cli(home, "resume", study, "--json")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    report = json.loads(resumed.stdout)
    assert report["status"] == "finished" and [t["status"] for t in report["trials"]] == ["complete"] * 2
    runs = RunStore(home).runs()
    finished = runs[runs["status"] == "finished"]
    assert len(finished) == 6 and finished.groupby(["experiment_id", "fold"]).size().max() == 1
    assert finished_before <= set(finished["id"])  # what had finished was kept, not retrained
    assert json.loads(cli(home, "show", study, "--json").stdout) == report  # show prints what run printed


@pytest.mark.slow
def test_start_study_runs_it_in_a_detached_process(bench, study_data):
    """What the page's Start button does: record, then `study resume` in its own session."""
    from glaucoma_core.studies.presets import study_from_preset

    definition = study_from_preset(
        "cpu-transfer-head", overrides={"backbone": "small_cnn", "weights": "none", "trainable": "all",
                                        "input_size": 32, "batch_size": 4, "epochs": 1, "early_stopping": False},
        space={"head_dropout": [0.1, 0.3]}, sampler="grid", pruner="none", n_trials=2, folds=[1, 2],
        data_root=str(study_data))
    study_id = bench.create_study(definition)
    pid = bench.start_study(study_id)
    assert pid > 0
    deadline = time.time() + 400
    while time.time() < deadline and bench.study_report(study_id)["status"] != "finished":
        time.sleep(1)
    report = bench.study_report(study_id)
    assert report["status"] == "finished", (bench.home / "studies" / str(study_id) / "log.txt").read_text()[-3000:]
    assert [t["params"]["head_dropout"] for t in sorted(report["trials"], key=lambda t: t["id"])] == [0.1, 0.3]
    assert report["selected"] in (0, 1)
    assert "trial 1" in (bench.home / "studies" / str(study_id) / "log.txt").read_text()


def test_feature_sharing_benchmark_help_names_its_options():
    result = subprocess.run([sys.executable, str(REPO / "benchmarks" / "study_feature_sharing.py"), "--help"],
                            cwd=REPO, env=env(), capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "--json" in result.stdout and "--trials" in result.stdout and "--shared-home" in result.stdout
