"""An upload unlike the training images is named (issue 13, Classify)."""

from __future__ import annotations

import pandas as pd

from glaucoma_core.data.upload_similarity import size_profile, unlike_training


def _index(sizes):
    return pd.DataFrame({"width": [w for w, _ in sizes], "height": [h for _, h in sizes], "problem": "",
                         "sha256": [str(i) for i in range(len(sizes))]})


def test_a_large_full_field_photo_is_unlike_small_square_crops():
    profile = size_profile(_index([(256, 256)] * 5 + [(240, 240)]))
    assert unlike_training(250, 250, profile) is None
    message = unlike_training(1411, 1000, profile)
    assert "1411 px" in message and "aspect ratio is 1.41" in message
    assert "longer side" in unlike_training(64, 64, profile)


def test_no_profile_without_usable_images():
    assert size_profile(pd.DataFrame()) is None
    assert size_profile(_index([(100, 100)]).assign(problem="broken")) is None
    assert unlike_training(100, 100, None) is None
