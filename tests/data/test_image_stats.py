import numpy as np
import pandas as pd
import pytest

from glaucoma_core.data.image_stats import (
    channel_histogram,
    image_statistics,
    pixel_statistics,
    sample_per_class,
    size_summary,
    summarize_by_class,
)


def test_pixel_statistics_of_known_image():
    image = np.zeros((10, 10, 3), dtype=np.uint8)
    image[:5, :, 0] = 200  # top half red
    stats = pixel_statistics(image)
    assert stats["mean_red"] == pytest.approx(100)
    assert stats["mean_green"] == 0
    assert stats["brightness"] == pytest.approx(0.299 * 100)
    assert stats["dark_fraction"] == pytest.approx(0.5)


def test_pixel_statistics_rejects_gray():
    with pytest.raises(ValueError, match="RGB"):
        pixel_statistics(np.zeros((4, 4), dtype=np.uint8))


def test_channel_histogram_sums_to_one():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    hist = channel_histogram(image, bins=8)
    assert hist.shape == (3, 8)
    np.testing.assert_allclose(hist.sum(axis=1), 1.0)


def test_image_statistics_by_class_with_loader():
    index = pd.DataFrame(
        {
            "path": ["a", "b", "c", "d", "bad"],
            "label": [0, 0, 1, 1, 1],
            "sha256": ["1", "2", "3", "4", "5"],
            "problem": ["", "", "", "", ""],
        }
    )
    bright = {"a": 10, "b": 20, "c": 200, "d": 220}

    def loader(path):
        if path == "bad":
            raise OSError("unreadable")
        return np.full((4, 4, 3), bright[path], dtype=np.uint8)

    stats, hist = image_statistics(index, loader=loader, bins=4)
    assert len(stats) == 4  # the unreadable one is skipped
    summary = summarize_by_class(stats).set_index("class")
    assert summary.loc["normal", "brightness_mean"] == pytest.approx(15)
    assert summary.loc["glaucoma", "brightness_mean"] == pytest.approx(210)
    assert set(hist["class"]) == {"normal", "glaucoma"}
    sums = hist.groupby(["class", "channel"])["fraction"].sum()
    np.testing.assert_allclose(sums.to_numpy(), 1.0)


def test_sample_per_class_dedups_and_caps():
    index = pd.DataFrame({"label": [0] * 10 + [1] * 3, "sha256": [str(i % 5) for i in range(10)] + ["x", "y", "z"]})
    sample = sample_per_class(index, per_class=2)
    assert (sample["label"] == 0).sum() == 2
    assert (sample["label"] == 1).sum() == 2


def test_size_summary():
    index = pd.DataFrame(
        {
            "label": [0, 0, 1],
            "width": pd.array([100, 100, 300], dtype="Int64"),
            "height": pd.array([100, 100, 200], dtype="Int64"),
            "sha256": ["a", "b", "c"],
            "problem": ["", "", ""],
        }
    )
    summary = size_summary(index).set_index("class")
    assert summary.loc["normal", "most_common_size"] == "100 x 100"
    assert summary.loc["glaucoma", "width_max"] == 300
