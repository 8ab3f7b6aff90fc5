"""The issue's bar, as a user runs it: a demo experiment validated on a demo dataset of another
seed and camera mix, figures with intervals at the experiment's own thresholds, stored and listed."""

from __future__ import annotations

import json

import pytest

from glaucoma_core.cli import main
from tests.external.helpers import synthetic_flat

pytestmark = pytest.mark.slow


def test_demo_experiment_validated_on_another_camera(tmp_path, capsys):
    home = ["--home", str(tmp_path / "home")]
    internal = tmp_path / "demo"
    assert main([*home, "demo-data", str(internal), "--images", "40", "--k", "2", "--size", "48"]) == 0
    assert main([*home, "cv", "--data", str(internal), "--preset", "cpu-small", "--set", "input_size=32",
                 "--set", "epochs=2", "--set", "batch_size=8", "--name", "demo", "--json"]) == 0
    capsys.readouterr()
    other = synthetic_flat(tmp_path / "other", 30, seed=9, size=64, camera=3)  # another seed and camera
    assert main([*home, "validate", "demo", "--data", str(other), "--youden", "--bootstrap", "100", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["images"]["n"] == 30 and len(result["folds"]) == 2
    for key in ("auc", "auc_ci95", "sensitivity", "specificity", "sens_at_spec95", "threshold", "fn"):
        assert key in result["ensemble"]
    assert all(len(f["auc_ci95"]) == 2 and "sensitivity_ci95" in f for f in result["folds"])
    assert result["shift"]["distance"] is not None and result["internal"]["auc"] is not None
    assert main([*home, "validate", "demo", "--data", str(other), "--youden", "--bootstrap", "100"]) == 0
    text = capsys.readouterr().out
    assert "fold ensemble" in text and "fold 1 (run" in text and "fold 2 (run" in text
    assert main([*home, "validate", "--list"]) == 0
    assert str(other) in capsys.readouterr().out
