"""predict_probabilities: P(glaucoma) per image, any size, one or many."""

from __future__ import annotations

import numpy as np
import pytest

from glaucoma_core.config import TrainConfig
from glaucoma_core.networks.classifier import build_classifier
from glaucoma_core.training.predict import model_input_size, predict_probabilities


@pytest.fixture(scope="module")
def model():
    return build_classifier(TrainConfig(input_size=32, backbone_options={"filters": [4, 8]}))


def test_probabilities_match_the_glaucoma_column(model):
    images = np.random.default_rng(0).integers(0, 256, (40, 32, 32, 3), dtype=np.uint8)
    p = predict_probabilities(model, images, batch_size=16)
    assert p.shape == (40,) and ((0 <= p) & (p <= 1)).all()
    np.testing.assert_allclose(p, np.asarray(model(images.astype(np.float32)))[:, 1], rtol=1e-4, atol=1e-6)


def test_one_image_and_other_sizes(model):
    assert model_input_size(model) == 32
    image = np.random.default_rng(1).integers(0, 256, (50, 70, 3), dtype=np.uint8)
    assert predict_probabilities(model, image).shape == (1,)
    assert predict_probabilities(model, np.zeros((0, 32, 32, 3), np.uint8)).shape == (0,)
    with pytest.raises(ValueError, match="RGB"):
        predict_probabilities(model, np.zeros((2, 32, 32), np.uint8))
