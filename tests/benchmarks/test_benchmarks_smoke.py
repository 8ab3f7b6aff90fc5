"""The benchmark scripts run end to end with the tiniest settings and print their ratios as JSON.

Each script runs as a user runs it (``python benchmarks/<name>.py ... --json``) on a tiny
generated dataset; the test checks that stdout is one JSON object with the headline ``ratio``
(a positive number) and ``ratios`` fields. Timing figures are not checked: a smoke test on a
shared CI machine cannot judge speed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = ("input_pipeline", "cv_frozen", "predict_latency", "store_under_load", "scale_curve", "gpu_protocol")


def run_script(name: str, *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    return subprocess.run([sys.executable, str(REPO / "benchmarks" / f"{name}.py"), *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)


def parse(result: subprocess.CompletedProcess) -> dict:
    assert result.returncode == 0, result.stderr[-3000:]
    data = json.loads(result.stdout)  # stdout holds exactly one JSON object
    assert isinstance(data["ratios"], dict) and data["ratios"]
    assert isinstance(data["ratio"], (int, float)) and data["ratio"] > 0
    assert data["baseline"]
    return data


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory) -> Path:
    """40 synthetic fundus images in two folds (the paper's folder layout)."""
    from glaucoma_core.data.demo import generate_demo_dataset

    return generate_demo_dataset(tmp_path_factory.mktemp("bench") / "data", n_images=40, k=2, image_size=64)


@pytest.mark.parametrize("name", SCRIPTS)
def test_help_names_the_json_option(name):
    result = run_script(name, "--help", timeout=120)
    assert result.returncode == 0, result.stderr
    assert "--json" in result.stdout and "--data" in result.stdout


@pytest.mark.slow
def test_store_under_load_counts_no_locked_errors():
    data = parse(run_script("store_under_load", "--runs", "1", "--epochs", "3", "--readers", "3",
                            "--epoch-seconds", "0.01", "--heartbeat-seconds", "0.01", "--predictions", "10",
                            "--poll-seconds", "0.01", "--json"))
    assert data["database_locked_errors"] == 0
    assert data["with_readers"]["reads"] > 0
    assert data["alone"]["writer_calls"] > 0 and data["with_readers"]["writer_calls"] > 0
    assert data["alone"]["readers"] == 0 and data["with_readers"]["readers"] == 3


@pytest.mark.slow
def test_input_pipeline_delivers_the_same_images(tiny_data):
    data = parse(run_script("input_pipeline", "--data", str(tiny_data), "--split", "test", "--size", "32",
                            "--batch", "4", "--epochs", "2", "--json"))
    assert data["images"] == 20
    assert {"cold", "warm", "cold_vs_decode_limit"} <= set(data["ratios"])
    limit = data["decode_limit"]
    assert limit["files"] == 20 and all(v > 0 for v in limit["images_per_second"].values())
    assert limit["fastest"] in limit["images_per_second"]


@pytest.mark.slow
def test_cv_frozen_reports_both_aucs(tiny_data):
    data = parse(run_script("cv_frozen", "--data", str(tiny_data), "--folds", "1", "--epochs", "1", "--size", "32",
                            "--batch", "4", "--json"))
    assert data["folds"] == 1
    assert 0 <= data["ours"]["mean_test_auc"] <= 1
    assert 0 <= data["baseline_result"]["mean_test_auc"] <= 1


@pytest.mark.slow
def test_predict_latency_agrees_with_the_baseline(tiny_data):
    image = next((tiny_data / "fold_01" / "test").rglob("*.jpg"))
    data = parse(run_script("predict_latency", "--image", str(image), "--alpha", "0.35", "--size", "32",
                            "--calls", "2", "--warmup", "1", "--gradcam-calls", "1", "--batch", "2", "--json"))
    assert data["ours_ms"]["n"] == 2 and data["model_load_seconds"] > 0


@pytest.mark.slow
def test_scale_curve_fits_an_exponent_per_stage(tmp_path):
    data = parse(run_script("scale_curve", "--home", str(tmp_path / "home"), "--sizes", "20", "30", "--size", "32",
                            "--epochs", "1", "--folds", "1", "--batch", "4", "--project", "1000", "--json"))
    assert data["sizes"] == [20, 30]
    for point in data["points"]:
        assert point["files"] == 10 * point["images"]  # each image in all 10 folds
        features = point["stages"]["features"]
        assert features["computed"] == point["images"] and features["problems"] == 0
        assert 0 < features["image_cache_mb"] <= features["image_cache_cap_mb"]
        assert point["stages"]["cv"]["features_reused"] > 0  # the CV decoded nothing new
        assert all(point["stages"][s]["peak_rss_mb"] > 0 for s in ("scan", "features", "cv"))
    assert all(data["curve"][s]["exponent"] is not None for s in ("scan", "features", "cv"))
    assert data["projected_total_seconds_1000"] > 0 and data["projected_peak_rss_mb_1000"] > 0
    assert data["fits_memory"] is True  # a few hundred MB against 24 GiB


@pytest.mark.slow
def test_gpu_protocol_runs_the_paper_presets_on_cpu(tiny_data):
    data = parse(run_script("gpu_protocol", "--data", str(tiny_data), "--backbones", "vgg16", "resnet50",
                            "--folds", "1", "--epochs", "1", "--size", "32", "--batch", "4",
                            "--weights-dir", str(tiny_data / "no-weights-here"), "--json"))
    assert [b["backbone"] for b in data["backbones"]] == ["vgg16", "resnet50"]
    assert all(b["weights"] == "none" and b["images_per_second"] > 0 for b in data["backbones"])
    assert data["gpu"] is False and data["backbones"][0]["gpu_memory_peak_mb"] is None
