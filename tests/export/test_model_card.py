"""The model card: every section, figures from the store, the threshold from validation."""

from __future__ import annotations

import pytest

from glaucoma_core.export.model_card import MODEL_CARD_FILE, model_card, write_model_card
from glaucoma_core.export.source import resolve_source, workbench_of
from glaucoma_core.workbench import ThresholdRule


@pytest.fixture(scope="module")
def card(filled):
    source = resolve_source(filled.store, f"exp:{filled.experiment_id}")
    return model_card(filled.store, source, ThresholdRule("target_sensitivity", 0.9), n_resamples=50)


def test_sections_and_intended_use(card):
    for heading in ("## Model", "## Data and folds", "## Training configuration", "## Decision threshold",
                    "## Test metrics", "## Shortcut warnings", "## Intended use and limits"):
        assert heading in card
    assert "not a medical device" in card.lower()
    assert "ensemble of the 2 fold models" in card


def test_figures_come_from_the_store(filled, card):
    workbench = workbench_of(filled.store)
    rule = ThresholdRule("target_sensitivity", 0.9)
    choice, _ = workbench.decision_threshold(filled.run_ids, rule)
    assert f"P(glaucoma) >= {choice.threshold:.4f}" in card
    assert f"pooled ({choice.n_valid} images)" in card and choice.n_valid == 16
    result = workbench.evaluate(f"exp:{filled.experiment_id}", rule, n_resamples=50)
    auc = result["summary"].set_index("metric").loc["auc"]
    assert f"| auc | {auc['mean']:.3f} | {auc['sd']:.3f} | {auc['ci_low']:.3f} – {auc['ci_high']:.3f} | 2 |" in card
    pooled = result["pooled"]
    assert f"**FN {pooled['fn']}**" in card
    assert filled.store.experiment(filled.experiment_id)["fingerprint"] in card
    assert "| 1 | 24 (12) | 8 (4) | 8 (4) |" in card  # train from the dataset, valid/test from the predictions
    assert "unchanged since training" in card
    assert "| backbone | `small_cnn` |" in card


def test_shortcut_warning_of_the_dataset(card):
    """The tiny dataset's glaucoma images (a bright square) compress differently: file size alone
    separates the classes, and the card says so."""
    assert "file size alone separates the classes" in card


def test_without_the_dataset_folder_the_card_says_what_was_not_checked(filled, tmp_path):
    from glaucoma_core.store import RunStore
    from tests.export.conftest import record_fold
    from tests.training.fakes import tiny_config

    store = RunStore(tmp_path / "home")
    config = tiny_config(feature_cache=False, prepare_disc_crop="off")
    run, _ = record_fold(store, None, 1, config, filled.data, seed=1, epochs=1)
    store._conn().execute("UPDATE runs SET data_root = ? WHERE id = ?", (str(tmp_path / "gone"), run))
    text = model_card(store, resolve_source(store, f"run:{run}"), n_resamples=20)
    assert "one trained model" in text and "shortcut check not run" in text
    assert "target sensitivity 0.95" in text  # the default rule
    path = write_model_card(text, tmp_path / "out")
    assert path.name == MODEL_CARD_FILE and path.read_text() == text


def test_card_of_a_prepared_model_says_which_inputs_the_savedmodel_takes_and_how_to_prepare_them(filled, tmp_path):
    from glaucoma_core.export.saved_model import PREPARATION_FILE
    from glaucoma_core.store import RunStore
    from tests.export.conftest import record_fold
    from tests.training.fakes import tiny_config

    store = RunStore(tmp_path / "home")
    config = tiny_config(feature_cache=False, prepare_disc_crop="auto")
    run, _ = record_fold(store, None, 1, config, filled.data, seed=1, epochs=1)
    metadata = {"input_size": 32, "signatures": {"serving_default": {}}}
    text = model_card(store, resolve_source(store, f"run:{run}"), n_resamples=20, export_metadata=metadata,
                      check_dataset=False)
    assert "prepared as in training" in text and "no `serve_bytes`" in text
    assert PREPARATION_FILE in text and "serve-export" in text and "crop=auto" in text
    plain = model_card(filled.store, resolve_source(filled.store, f"run:{filled.run_ids[0]}"), n_resamples=20,
                       export_metadata=metadata, check_dataset=False)
    assert "`serve_bytes` (encoded image files)" in plain and "none (decode and resize only)" in plain
