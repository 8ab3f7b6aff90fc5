"""CLI evaluate / compare / gradcam over a run store filled with known predictions."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from glaucoma_core.cli import main
from glaucoma_core.errors import UserError
from glaucoma_core.store import RunStore
from glaucoma_core.workbench import Reference, parse_reference
from tests.evaluation.test_evaluate_compare import experiment_predictions


def _fill(store, name, strength, seed, folds=3):
    preds = experiment_predictions(strength=strength, seed=seed, folds=folds)
    exp = store.create_experiment(name, {"backbone": "small_cnn"}, "/data", "fp", list(range(1, folds + 1)))
    runs = []
    for fold in range(1, folds + 1):
        run = store.create_run(exp, fold, {"backbone": "small_cnn"}, "/data")
        store.save_predictions(run, preds[preds.fold == fold].drop(columns=["run_id", "fold"]))
        store.finish_run(run, "finished")
        runs.append(run)
    return exp, runs, preds


@pytest.fixture
def filled(tmp_path):
    store = RunStore(tmp_path)
    strong = _fill(store, "strong", 2.0, 1)
    weak = _fill(store, "weak", 0.4, 2)
    return store, strong, weak


def _json(capsys, argv):
    code = main(argv)
    out = capsys.readouterr()
    assert code == 0, out.err
    return json.loads(out.out)


def test_parse_reference():
    assert parse_reference("5") == Reference("run", 5)
    assert parse_reference("run:7") == Reference("run", 7)
    assert parse_reference("exp:3") == Reference("experiment", 3)
    assert parse_reference("experiment:big") == Reference("experiment", "big")
    assert parse_reference("my-cv") == Reference("experiment", "my-cv")
    assert str(parse_reference("experiment:3")) == "exp:3" and str(parse_reference("7")) == "run:7"
    for bad in ("run:x", "", "exp:", "run:0", "-3", f"run:{2**70}", str(2**70)):
        with pytest.raises(UserError):
            parse_reference(bad)


def test_evaluate_experiment_target_sensitivity(filled, capsys):
    store, (exp, runs, preds), _ = filled
    home = ["--home", str(store.home)]
    result = _json(capsys, [*home, "evaluate", f"exp:{exp}", "--target-sensitivity", "0.95", "--json",
                            "--bootstrap", "50"])
    assert result["kind"] == "experiment" and result["threshold_rule"]["method"] == "target_sensitivity"
    per_fold = {row["fold"]: row for row in result["per_fold"]}
    assert sorted(per_fold) == [1, 2, 3]
    for fold, row in per_fold.items():
        t = result["thresholds"][str(fold)]["threshold"]
        valid = preds[(preds.fold == fold) & (preds.split == "valid")]
        assert ((valid.probability >= t) & (valid.label == 1)).sum() >= 0.95 * valid.label.sum()  # chosen on valid
        test = preds[(preds.fold == fold) & (preds.split == "test")]
        assert row["fn"] == int(((test.probability < t) & (test.label == 1)).sum())  # reported on test
        assert row["threshold"] == t
        assert {"sensitivity", "specificity", "fn", "fn_rate"} <= set(row)
    assert result["pooled"]["fn"] == sum(r["fn"] for r in per_fold.values())
    assert result["pooled_intervals"]["auc"]["method"] == "delong"
    # the experiment's name works too, and the text output names the pieces
    assert main([*home, "evaluate", "strong", "--youden", "--bootstrap", "20"]) == 0
    text = capsys.readouterr().out
    assert "pooled out-of-fold" in text and "t-interval" in text


def test_evaluate_run_text_and_json(filled, capsys):
    store, (_, runs, _), _ = filled
    home = ["--home", str(store.home)]
    result = _json(capsys, [*home, "evaluate", str(runs[0]), "--threshold", "0.4", "--json", "--bootstrap", "50"])
    assert result["kind"] == "run" and result["threshold"]["threshold"] == 0.4
    assert result["metrics"]["n"] == 30 and result["intervals"]["sensitivity"]["method"] == "bootstrap"
    assert main([*home, "evaluate", f"run:{runs[0]}", "--bootstrap", "20"]) == 0
    text = capsys.readouterr().out
    assert "AUC" in text and "glaucoma" in text and "FN" in text


def test_compare_experiments_and_runs(filled, capsys):
    store, (exp_a, runs_a, _), (exp_b, runs_b, _) = filled
    home = ["--home", str(store.home)]
    result = _json(capsys, [*home, "compare", f"exp:{exp_a}", f"exp:{exp_b}", "--json"])
    assert 0 <= result["delong"]["p_value"] <= 1 and 0 <= result["mcnemar"]["p_value"] <= 1
    assert len(result["per_fold"]) == 3 and "auc_diff" in result["per_fold"][0]
    assert "nadeau_bengio" in result["fold_tests"]["auc"] and "wilcoxon" in result["fold_tests"]["auc"]
    assert main([*home, "compare", "strong", "weak", "--target-sensitivity", "0.9"]) == 0
    text = capsys.readouterr().out
    assert "DeLong" in text and "McNemar" in text and "Nadeau-Bengio" in text
    run_result = _json(capsys, [*home, "compare", str(runs_a[0]), str(runs_b[0]), "--json"])
    assert run_result["kind"] == "run" and run_result["n_images"] == 30


@pytest.mark.parametrize("argv,message", [
    (["evaluate", "999"], "no run 999"),
    (["evaluate", "exp:77"], "no experiment"),
    (["evaluate", "5", "--target-sensitivity", "1.5"], "between 0 and 1"),
    (["evaluate", "1", "--split", "valid", "--youden"], "cannot be evaluated"),
    (["compare", "1", "exp:1"], "two runs or two experiments"),
])
def test_bad_input_is_a_clear_error(filled, capsys, argv, message):
    store = filled[0]
    assert main(["--home", str(store.home), *argv]) == 2
    assert message in capsys.readouterr().err


def test_experiment_without_predictions(tmp_path, capsys):
    store = RunStore(tmp_path)
    exp = store.create_experiment("empty", {}, "/data", "fp", [1])
    store.create_run(exp, 1, {}, "/data")
    assert main(["--home", str(tmp_path), "evaluate", f"exp:{exp}"]) == 2
    assert "no stored predictions" in capsys.readouterr().err


def test_gradcam_writes_overlay(tmp_path, capsys):
    from tests.evaluation.test_gradcam import _tiny_classifier

    store = RunStore(tmp_path)
    run = store.create_run(None, 1, {}, "/data")
    store.save_model(run, _tiny_classifier())
    store.finish_run(run, "finished")
    image = tmp_path / "eye.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 60, 3), dtype=np.uint8)).save(image)
    out = tmp_path / "cam.png"
    result = _json(capsys, ["--home", str(tmp_path), "gradcam", "--run", str(run), str(image), "--out", str(out),
                            "--json"])
    assert out.exists() and Image.open(out).size == (60, 40) and Image.open(out).mode == "RGB"
    assert 0 <= result["probability"] <= 1 and result["layer"] == "last_conv"
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    assert main(["--home", str(tmp_path), "gradcam", "--run", str(run), str(bad), "--out", str(out)]) == 2
    assert "bad.png" in capsys.readouterr().err
    assert main(["--home", str(tmp_path), "gradcam", "--run", "99", str(image), "--out", str(out)]) == 2
    assert main(["--home", str(tmp_path), "gradcam", "--run", str(run), str(image),
                 "--out", str(tmp_path / "nowhere" / "x.png")]) == 2


@pytest.mark.slow
def test_train_then_evaluate_and_gradcam_a_real_run(tmp_path, capsys):
    """A real (tiny) training run: evaluate picks its threshold on valid, gradcam overlays an image."""
    from tests.training.fakes import TINY_SETTINGS, make_tiny_dataset

    data = make_tiny_dataset(tmp_path / "data", folds=1)
    home = ["--home", str(tmp_path / "home")]
    settings = [arg for key, value in TINY_SETTINGS.items() for arg in ("--set", f"{key}={value}")]
    assert main([*home, "train", "--data", str(data), "--preset", "cpu-small", *settings, "--fold", "1"]) == 0
    capsys.readouterr()
    run = int(RunStore(tmp_path / "home").runs()["id"].iloc[0])
    result = _json(capsys, [*home, "evaluate", str(run), "--youden", "--json", "--bootstrap", "20"])
    assert result["threshold"]["method"] == "youden" and result["threshold"]["n_valid"] == 8
    assert result["metrics"]["n"] == 8
    image = next((data / "fold_1" / "test" / "abnormal").iterdir())
    out = tmp_path / "overlay.png"
    cam = _json(capsys, [*home, "gradcam", "--run", str(run), str(image), "--out", str(out), "--json"])
    assert cam["layer"] == "last_conv_relu" and Image.open(out).size == (32, 32)
