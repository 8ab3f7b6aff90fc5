"""One experiment, three places: the `cv` command, `evaluate` and the Cross-validation page
show the same per-fold and summary figures under the same threshold rule, and the reference
`cv --json` prints is accepted as it is by `evaluate` and `compare`."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from glaucoma_core.cli import main
from glaucoma_core.store import RunStore
from tests.app.helpers import REPO
from tests.evaluation.test_evaluate_compare import experiment_predictions
from tests.training.fakes import make_tiny_dataset

RULE = ["--target-sensitivity", "0.9"]
SHOWN = ["fold", "run_id", "n", "threshold", "accuracy", "auc", "sensitivity", "specificity", "f1", "fn", "fn_rate"]


def fill(store, name, strength, seed, data_root, folds=3):
    """An experiment whose fold runs hold known predictions; fold 1's test split lists one file
    twice (a duplicate the evaluation counts once)."""
    preds = experiment_predictions(strength=strength, seed=seed, folds=folds)
    repeated = preds[(preds.fold == 1) & (preds.split == "test")].iloc[[3]]
    preds = pd.concat([preds, repeated], ignore_index=True)
    exp = store.create_experiment(name, {"backbone": "small_cnn"}, str(data_root), "fp", list(range(1, folds + 1)))
    for fold in range(1, folds + 1):
        run = store.create_run(exp, fold, {"backbone": "small_cnn"}, str(data_root))
        store.save_predictions(run, preds[preds.fold == fold].drop(columns=["run_id", "fold"]))
        store.finish_run(run, "finished")
    return exp


@pytest.fixture
def home(tmp_path):
    data = make_tiny_dataset(tmp_path / "data", folds=3, n_train=2, n_valid=1, n_test=1, size=16)
    store = RunStore(tmp_path / "home")
    fill(store, "strong", 2.0, 1, data)
    fill(store, "weak", 0.4, 2, data)
    return store.home, data


def run_json(capsys, *argv):
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    assert code == 0, out.err
    return json.loads(out.out)


def test_cv_and_evaluate_print_the_same_figures_and_the_reference_feeds_the_next_command(home, capsys):
    home, _ = home
    report = run_json(capsys, "--home", home, "cv", "--resume", "exp:1", *RULE, "--json")  # nothing left to train
    assert report["experiment"] == "exp:1" and report["status"] == "finished"
    assert report["threshold_rule"] == {"method": "target_sensitivity", "target": 0.9}
    evaluated = run_json(capsys, "--home", home, "evaluate", report["experiment"], *RULE, "--json")
    results = report["results"]
    assert results["per_fold"] == evaluated["per_fold"]
    assert results["summary"] == evaluated["summary"]
    assert results["pooled"] == evaluated["pooled"]
    assert results["threshold_rule_text"] == evaluated["threshold_rule_text"]
    # the duplicate in fold 1's test split is counted once, in both
    assert next(r for r in results["per_fold"] if r["fold"] == 1)["n"] == 30
    compared = run_json(capsys, "--home", home, "compare", report["experiment"], "exp:2", *RULE, "--json")
    assert compared["kind"] == "experiment" and compared["a_reference"] == "exp:1"


def test_a_bare_number_is_a_run_and_the_error_names_the_experiment(home, capsys):
    home, _ = home
    assert main(["--home", str(home), "evaluate", "404"]) == 2
    assert "no run 404" in capsys.readouterr().err.lower()
    store = RunStore(home)
    store.close()


@pytest.mark.slow
def test_the_cross_validation_page_shows_the_figures_of_evaluate(home, capsys, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from app_pages._components.context import CONTEXT_KEY, AppContext

    home, data = home
    monkeypatch.setenv("GLAUCOMA_HOME", str(home))
    evaluated = run_json(capsys, "--home", home, "evaluate", "exp:1", *RULE, "--json")
    at = AppTest.from_file(str(REPO / "app_pages" / "cross_validation.py"), default_timeout=120)
    at.session_state[CONTEXT_KEY] = AppContext(data_root=data, data_label=str(data), is_demo=False, home=home)
    at.session_state["cv_experiment"] = 1
    at.run()
    at.selectbox(key="cv_threshold_method").set_value("target_sensitivity").run()
    at.number_input(key="cv_threshold_target").set_value(0.9).run()
    assert not at.exception, [e.value for e in at.exception]
    tables = [t.value for t in at.dataframe]
    per_fold = next(t for t in tables if {"fold", "run_id", "threshold"} <= set(t.columns))
    expected = pd.DataFrame(evaluated["per_fold"])[[c for c in SHOWN if c in per_fold.columns]]
    pd.testing.assert_frame_equal(per_fold.reset_index(drop=True), expected, check_dtype=False, rtol=0, atol=1e-12)
    summary = next(t for t in tables if {"mean", "sd"} <= set(t.columns))
    shown = summary.rename(columns={"95 % low": "ci_low", "95 % high": "ci_high", "folds": "n_folds"})
    columns = ["mean", "sd", "ci_low", "ci_high", "n_folds"]
    expected = pd.DataFrame(evaluated["summary"])
    pd.testing.assert_frame_equal(shown[columns].reset_index(drop=True), expected[columns], check_dtype=False,
                                  rtol=0, atol=1e-12)
    assert any("evaluate exp:1" in str(md.value) for md in at.markdown)
