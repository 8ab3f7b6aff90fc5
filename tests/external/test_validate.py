"""External validation: fold models and their ensemble on another dataset, stored and listed."""

from __future__ import annotations

import json

import numpy as np
import pytest

from glaucoma_core.cli import main
from glaucoma_core.errors import UserError
from glaucoma_core.evaluation.intervals import delong_auc_covariance
from glaucoma_core.external.validation import auc_difference, external_images
from glaucoma_core.store.external_results import list_external, read_external
from glaucoma_core.workbench import ThresholdRule, Workbench
from tests.external.helpers import stored_experiment, tiny_flat
from tests.training.fakes import make_tiny_dataset


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("validate")
    bench = Workbench(root / "home")
    internal = make_tiny_dataset(root / "internal", folds=3, n_train=6, n_valid=6, n_test=6)
    exp, runs = stored_experiment(bench, internal)
    other = tiny_flat(root / "other", n=12)
    return bench, exp, runs, other


def _json(capsys, argv):
    code = main(argv)
    out = capsys.readouterr()
    assert code == 0, out.err
    return json.loads(out.out)


def test_validate_json_and_store(setup, capsys):
    bench, exp, runs, other = setup
    home = ["--home", str(bench.home)]
    result = _json(capsys, [*home, "validate", f"exp:{exp}", "--data", str(other), "--youden", "--bootstrap", "50",
                            "--json"])
    assert {"experiment", "data", "images", "ensemble", "folds", "internal", "shift"} <= set(result)
    assert result["experiment"] == f"exp:{exp}"
    # 24 files, one is a copy: counted once
    assert result["images"]["n"] == 24 and result["images"]["duplicates"] == 1
    ens = result["ensemble"]
    for key in ("auc", "auc_ci95", "sensitivity", "specificity", "sens_at_spec95", "threshold", "fn"):
        assert key in ens
    assert ens["auc_ci95"][0] <= ens["auc"] <= ens["auc_ci95"][1]
    assert [f["fold"] for f in result["folds"]] == [1, 2, 3]
    assert [f["run_id"] for f in result["folds"]] == runs
    # the thresholds are the experiment's own: each fold's from its validation images...
    internal = bench.evaluate(f"exp:{exp}", ThresholdRule("youden", None), n_resamples=10)
    for fold in result["folds"]:
        assert fold["threshold"] == pytest.approx(internal["thresholds"][fold["fold"]]["threshold"])
    # ...the ensemble's from the pooled validation predictions, never from the external labels
    choice, _ = bench.decision_threshold(runs, ThresholdRule("youden", None))
    assert ens["threshold"] == pytest.approx(choice.threshold)
    assert "optimistic" in ens["optimistic"]["note"]
    assert result["internal"]["auc"] == pytest.approx(internal["pooled"]["auc"])
    assert result["drop"]["difference"] == pytest.approx(result["internal"]["auc"] - ens["auc"])
    assert result["drop"]["ci95"][0] <= result["drop"]["difference"] <= result["drop"]["ci95"][1]
    assert result["shift"]["distance"] is not None and isinstance(result["shift"]["warning"], str)
    assert ens["fn"] == len(result["missed"])

    stored = list_external(bench.store, experiment_id=exp)
    assert len(stored) == 1 and stored["auc"].iloc[0] == pytest.approx(ens["auc"])
    record = read_external(bench.store, int(stored["id"].iloc[0]))
    assert record["result"]["ensemble"]["threshold"] == pytest.approx(ens["threshold"])
    assert len(record["predictions"]) == 24 and {"probability", "doubt", "p_fold_1"} <= set(record["predictions"])

    # the same experiment, dataset and rule again: replaced, not added; another rule: a second row
    _json(capsys, [*home, "validate", f"exp:{exp}", "--data", str(other), "--youden", "--bootstrap", "20", "--json"])
    assert len(list_external(bench.store, experiment_id=exp)) == 1
    _json(capsys, [*home, "validate", f"exp:{exp}", "--data", str(other), "--bootstrap", "20", "--json"])
    listed = _json(capsys, [*home, "validate", "--list", f"exp:{exp}", "--json"])
    assert len(listed) == 2
    assert main([*home, "validate", "--list"]) == 0
    assert "exp:" in capsys.readouterr().out


def test_validate_text_and_run(setup, capsys):
    bench, exp, runs, other = setup
    home = ["--home", str(bench.home)]
    assert main([*home, "validate", f"exp:{exp}", "--data", str(other), "--bootstrap", "20", "--no-save"]) == 0
    text = capsys.readouterr().out
    assert "fold ensemble" in text and "drop internal - external" in text and "domain distance" in text
    one = _json(capsys, [*home, "validate", f"run:{runs[0]}", "--data", str(other), "--bootstrap", "20", "--json"])
    assert len(one["folds"]) == 1 and one["ensemble"]["auc"] == pytest.approx(one["folds"][0]["auc"])


def test_validate_bad_input(setup, capsys, tmp_path):
    bench, exp, _, other = setup
    home = ["--home", str(bench.home)]
    assert main([*home, "validate", f"exp:{exp}"]) == 2
    assert "--data" in capsys.readouterr().err
    assert main([*home, "validate", f"exp:{exp}", "--data", str(tmp_path / "nowhere")]) == 2
    assert "error:" in capsys.readouterr().err
    one_class = tmp_path / "one"
    tiny_flat(one_class, n=3, duplicate=False)
    for image in (one_class / "abnormal").iterdir():
        image.unlink()
    with pytest.raises(UserError, match="one class"):
        bench.validate_external(f"exp:{exp}", one_class, n_resamples=5, save=False)
    assert main([*home, "validate", "exp:999", "--data", str(other)]) == 2


def test_external_images_counts_duplicates_and_conflicts():
    import pandas as pd

    index = pd.DataFrame({"path": list("abcde"), "relpath": list("abcde"), "sha256": ["1", "1", "2", "2", "3"],
                          "label": [1, 1, 0, 1, 0], "problem": ["", "", "", "", "broken"]})
    images, counts = external_images(index)
    assert list(images["path"]) == ["a"]  # '2' is filed under both classes: left out
    assert counts == {"usable": 4, "duplicates": 1, "label_conflicts": 1, "unusable": 1}


def test_auc_difference_of_independent_samples():
    rng = np.random.default_rng(0)
    y1, y2 = rng.integers(0, 2, 200), rng.integers(0, 2, 150)
    s1, s2 = y1 + rng.normal(0, 0.7, 200), y2 + rng.normal(0, 1.5, 150)
    diff = auc_difference(y1, s1, y2, s2)
    (a1,), v1 = delong_auc_covariance(y1, s1)
    (a2,), v2 = delong_auc_covariance(y2, s2)
    assert diff["difference"] == pytest.approx(a1 - a2)
    assert diff["se"] == pytest.approx(np.sqrt(v1[0, 0] + v2[0, 0]))
    assert diff["ci_low"] < diff["difference"] < diff["ci_high"] and diff["p_value"] < 0.05
    assert np.isnan(auc_difference([1, 1], [0.2, 0.3], y2, s2)["difference"])
