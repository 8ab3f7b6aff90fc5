"""train_fold end to end on tiny synthetic folds: metrics, predictions, cancel, feature cache."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from glaucoma_core.config import TrainConfig
from glaucoma_core.training.reporting import EPOCH_KEYS, RecordingReporter
from glaucoma_core.training.trainer import train_fold
from tests.training.synthetic import fold_index, make_fold_dataset

SHARED_IMAGENET = Path(__file__).resolve().parents[2].parent / "shared" / "imagenet"
MOBILENET_035 = SHARED_IMAGENET / "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_224_no_top.h5"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("data") / "ds"
    make_fold_dataset(root, folds=1, n_train=48, n_valid=16, n_test=24, size=48)
    (root / "fold_1" / "train" / "abnormal" / "empty.png").write_bytes(b"")
    return root


@pytest.fixture
def index(dataset, tmp_path):
    return fold_index(dataset, tmp_path)


def _small(**kwargs) -> TrainConfig:
    base = dict(backbone="small_cnn", input_size=32, weights="none", backbone_options={"filters": [8, 16, 32]},
                batch_size=16, epochs=3, learning_rate=3e-3)
    return TrainConfig(**{**base, **kwargs})


def test_train_fold_reports_metrics_and_predicts_every_image(index, tmp_path):
    reporter = RecordingReporter()
    result = train_fold(_small(), index, 1, reporter=reporter, home=tmp_path)
    assert reporter.info["n_train"] == 48 and reporter.info["n_valid"] == 16 and reporter.info["n_test"] == 24
    assert reporter.info["steps_per_epoch"] == 3 and reporter.info["epochs"] == 3
    assert result.skipped_images == 1 and not result.cancelled
    assert [e for e, _ in reporter.epochs] == [1, 2, 3] == [h["epoch"] for h in result.history]
    assert set(EPOCH_KEYS) <= set(reporter.epochs[0][1])
    assert 1 <= result.best_epoch <= 3 and result.seconds > 0
    predictions = result.predictions
    assert list(predictions.columns) == ["split", "path", "sha256", "label", "probability"]
    assert predictions["split"].value_counts().to_dict() == {"test": 24, "valid": 16}
    assert predictions["probability"].between(0, 1).all()
    # The returned model is the saved one: same probabilities after a safe-mode round trip.
    path = tmp_path / "model.keras"
    result.model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    from glaucoma_core.data.pipeline import load_images

    test = predictions[predictions["split"] == "test"]
    images = load_images(test, 32).images
    probabilities = np.asarray(loaded(images.astype(np.float32)))[:, 1]
    np.testing.assert_allclose(probabilities, test["probability"].to_numpy(), rtol=1e-4, atol=1e-5)


def test_cancel_stops_after_the_epoch_and_keeps_a_model(index, tmp_path):
    reporter = RecordingReporter(cancel_after_epoch=1)
    result = train_fold(_small(epochs=5), index, 1, reporter=reporter, home=tmp_path)
    assert result.cancelled and len(result.history) == 1 and result.best_epoch == 1
    assert len(result.predictions) == 40


def _frozen(weights: str, **kwargs) -> TrainConfig:
    base = dict(backbone="mobilenetv2", backbone_options={"alpha": 0.35}, input_size=64, weights=weights,
                trainable="head", batch_size=16, epochs=15, learning_rate=3e-3, early_stopping=False,
                head_dropout=0.0)
    return TrainConfig(**{**base, **kwargs})


@pytest.fixture
def frozen_weights(tmp_path):
    if MOBILENET_035.exists():
        return str(MOBILENET_035)
    keras.utils.set_random_seed(0)
    base = keras.applications.MobileNetV2(include_top=False, weights=None, alpha=0.35, input_shape=(64, 64, 3))
    path = tmp_path / "mobilenet.weights.h5"
    base.save_weights(path)
    return str(path)


def _test_auc(result) -> float:
    test = result.predictions[result.predictions["split"] == "test"]
    return roc_auc_score(test["label"], test["probability"])


def test_feature_cache_path_matches_plain_fit_and_reuses_features(index, tmp_path, frozen_weights):
    fast = train_fold(_frozen(frozen_weights), index, 1, home=tmp_path)
    plain = train_fold(_frozen(frozen_weights, feature_cache=False), index, 1, home=tmp_path)
    assert fast.info["path"] == "features" and plain.info["path"] == "images"
    assert fast.info["feature_cache"]["computed"] == 88  # train + valid + test, each image once
    assert abs(_test_auc(fast) - _test_auc(plain)) <= 0.02
    # The feature path predicts with the head on cached features: the same numbers as the
    # returned (saved) full model gives on the images.
    from glaucoma_core.data.pipeline import load_images

    for split in ("valid", "test"):
        rows = fast.predictions[fast.predictions["split"] == split]
        images = load_images(rows, 64).images.astype(np.float32)
        full = np.asarray(fast.model.predict(images, verbose=0))[:, 1]
        np.testing.assert_allclose(rows["probability"].to_numpy(), full, rtol=1e-4, atol=1e-5)
    again = train_fold(_frozen(frozen_weights), index, 1, home=tmp_path)
    assert again.info["feature_cache"]["computed"] == 0 and again.info["feature_cache"]["reused"] == 88
    assert any((tmp_path / "cache" / "features").rglob("part-*.npz"))


def test_feature_path_repeats_exactly_whatever_this_process_did_before(index, tmp_path, frozen_weights):
    # The first call builds the reference backbone and compiles the head; the second serves
    # both from memory (reset head, zeroed optimizer). Same numbers, same history.
    from glaucoma_core.networks.weights import clear_reference_weights
    from glaucoma_core.training import trainer

    clear_reference_weights()
    trainer._HEADS.clear()
    config = _frozen(frozen_weights)
    config.epochs, config.head_dropout = 4, 0.3
    first = train_fold(config, index, 1, home=tmp_path)
    second = train_fold(config, index, 1, home=tmp_path)
    assert trainer._HEADS  # the compiled head was reused
    np.testing.assert_allclose(second.predictions["probability"], first.predictions["probability"], rtol=1e-6)
    assert [h["loss"] for h in second.history] == pytest.approx([h["loss"] for h in first.history], rel=1e-6)
    # A fresh head while the reference weights come from memory: the same initial head as
    # when the reference had to be built (its random draws leave no trace).
    trainer._HEADS.clear()
    third = train_fold(config, index, 1, home=tmp_path)
    np.testing.assert_allclose(third.predictions["probability"], first.predictions["probability"], rtol=1e-6)


def test_fine_tune_phase_continues_the_epoch_count(index, tmp_path, frozen_weights):
    config = _frozen(frozen_weights, fine_tune_epochs=1, fine_tune_layers=5)
    config.epochs = 2
    reporter = RecordingReporter()
    result = train_fold(config, index, 1, reporter=reporter, home=tmp_path)
    assert [e for e, _ in reporter.epochs] == [1, 2, 3]
    assert reporter.info["epochs"] == 3
    assert 1 <= result.best_epoch <= 3


def test_feature_path_builds_the_backbone_once_and_folds_keep_their_own_models(index, tmp_path, frozen_weights,
                                                                             monkeypatch):
    # The second fold reuses the first one's frozen backbone (no classifier is built) and
    # decodes no image (every feature is cached); the first fold's returned model still gives
    # its own numbers after the second fold put a different head on the shared backbone.
    from glaucoma_core.data.pipeline import load_images
    from glaucoma_core.networks import classifier
    from glaucoma_core.training import frozen_backbone, trainer

    frozen_backbone.clear()
    first = train_fold(_frozen(frozen_weights, epochs=3), index, 1, home=tmp_path)
    built, decoded = [], []
    original_build, original_load = classifier.build_feature_extractor, trainer.load_images
    monkeypatch.setattr(classifier, "build_feature_extractor", lambda *a, **k: built.append(1) or original_build(*a, **k))
    monkeypatch.setattr(trainer, "load_images", lambda rows, *a, **k: decoded.append(len(rows)) or original_load(rows, *a, **k))
    second = train_fold(_frozen(frozen_weights, epochs=3, learning_rate=1e-2, head_dense_units=8), index, 1,
                        home=tmp_path)
    assert built == [] and decoded == []
    assert second.info["feature_cache"]["computed"] == 0
    test = first.predictions[first.predictions["split"] == "test"]
    images = load_images(test, 64).images.astype(np.float32)
    for result in (first, second):
        rows = result.predictions[result.predictions["split"] == "test"]
        full = np.asarray(result.model.predict(images, verbose=0))[:, 1]
        np.testing.assert_allclose(rows["probability"].to_numpy(), full, rtol=1e-4, atol=1e-5)
    assert not np.allclose(first.predictions["probability"], second.predictions["probability"])
    assert second.model.get_layer("head_dense").units == 8
