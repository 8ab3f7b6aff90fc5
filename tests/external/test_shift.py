"""Dataset shift: a known shift is flagged, two draws of the same generator are not."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from glaucoma_core.data.index import scan_dataset
from glaucoma_core.external.properties import PROPERTIES, image_properties, sharpness
from glaucoma_core.external.shift import FAR_APART, domain_auc, shift_report
from tests.external.helpers import synthetic_flat


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    root = tmp_path_factory.mktemp("shift")
    home = root / "home"

    def props(name, **options):
        folder = synthetic_flat(root / name, 36, **options)
        return image_properties(scan_dataset(folder, home=home))

    return {"a": props("a", seed=0), "same": props("same", seed=7),
            "full_field": props("ff", seed=3, style="full-field"),
            "camera": props("cam", seed=4, camera=3, size=96)}


def test_properties_table(datasets):
    table = datasets["a"]
    assert len(table) == 36 and set(PROPERTIES) <= set(table.columns)
    assert table["width"].eq(64).all() and table["aspect"].eq(1.0).all()
    assert table["dark_fraction"].between(0, 1).all() and (table["sharpness"] > 0).all()
    # full-field photographs have a black surround and a wider frame than the disc images
    assert datasets["full_field"]["dark_fraction"].mean() > table["dark_fraction"].mean()
    assert datasets["full_field"]["aspect"].mean() > 1.0


def test_known_shift_is_flagged(datasets):
    report = shift_report(datasets["a"], datasets["full_field"])
    assert report["flagged"] and report["distance"] >= FAR_APART
    assert "far apart" in report["warning"]
    row = report["table"].set_index("property").loc["aspect"]
    assert row["external_mean"] > row["internal_mean"] and abs(row["smd"]) > 0.8
    # another camera mix at another resolution: flagged too
    assert shift_report(datasets["a"], datasets["camera"])["flagged"]


def test_same_generator_other_seed_is_not_flagged(datasets):
    report = shift_report(datasets["a"], datasets["same"])
    assert not report["flagged"] and report["distance"] < FAR_APART
    assert "look alike" in report["warning"] or "noticeably" in report["warning"]


def test_domain_auc_limits():
    rng = np.random.default_rng(0)
    a = pd.DataFrame({c: rng.normal(size=40) for c in PROPERTIES})
    b = pd.DataFrame({c: rng.normal(size=40) + (5.0 if c == "brightness" else 0.0) for c in PROPERTIES})
    far = domain_auc(a, b)
    assert far["auc"] > 0.95 and far["top"][0]["property"] == "brightness"
    constant = pd.DataFrame({c: np.ones(10) for c in PROPERTIES})
    assert domain_auc(constant, constant)["auc"] == 0.5  # nothing to tell them apart by
    with pytest.raises(ValueError, match="at least 2"):
        domain_auc(a.head(1), b)


def test_sharpness_orders_blur():
    from PIL import Image, ImageFilter

    rng = np.random.default_rng(1)
    image = rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)
    blurred = np.asarray(Image.fromarray(image).filter(ImageFilter.GaussianBlur(2)))
    assert sharpness(image) > 10 * sharpness(blurred)
