"""The benchmarks' helpers: size presets, the scale curve's fits, the RSS sampler (no TensorFlow)."""

from __future__ import annotations

import math

import pytest

from benchmarks import _datasets, _memory, scale_curve


def test_named_and_scale_presets():
    assert _datasets.preset("full-field-2000").style == "full-field"
    p = _datasets.preset("scale-224-1707")
    assert (p.style, p.image_size, p.n_images, p.k) == ("disc", 224, 1707, 10)
    with pytest.raises(SystemExit, match="unknown size preset"):
        _datasets.preset("huge")


def test_preset_folder_names_size_count_and_seed(tmp_path):
    folder = _datasets.preset_folder(_datasets.preset("scale-64-30"), home=tmp_path, seed=3)
    assert folder.name == "scale-64-30-n30-k10-s3" and tmp_path in folder.parents


def test_exponent_of_a_power_law_and_projections():
    ns = [400, 1707, 10000]
    assert scale_curve.fit_exponent(ns, [2.0 * n**1.5 for n in ns]) == pytest.approx(1.5, abs=1e-3)
    assert scale_curve.fit_exponent([400], [1.0]) is None
    assert scale_curve.project_power([10, 100], [1.0, 10.0], 1.0, 1000) == pytest.approx(100.0)
    assert scale_curve.project_line([10, 20], [110.0, 120.0], 100) == pytest.approx(200.0)
    assert not math.isnan(scale_curve.fit_exponent([10, 20], [1.0, 2.0]))


def test_decoded_image_lru_is_projected_per_image_up_to_its_cap():
    # 1 MB per image below the cap: 500 at 500 images, the cap (2048) at 100,000
    assert scale_curve.project_lru([100, 400], [100.0, 400.0], 2048.0, 500) == pytest.approx(500.0)
    assert scale_curve.project_lru([100, 400], [100.0, 400.0], 2048.0, 100_000) == pytest.approx(2048.0)
    # the largest size already at the cap: use the last size below it
    assert scale_curve.project_lru([100, 4000], [100.0, 2048.0], 2048.0, 1000) == pytest.approx(1000.0)
    assert scale_curve.project_lru([100, 400], [0.0, 0.0], 2048.0, 1000) == 0.0


def test_peak_rss_sees_an_allocation():
    import numpy as np

    with _memory.PeakRSS(interval=0.005) as peak:
        block = np.ones(64 * 2**20 // 8)  # 64 MiB, touched
        block.sum()
    assert peak.peak_mb - peak.start_mb > 40


def test_points_of_an_earlier_run_are_summarised_again(tmp_path, capsys):
    import json

    def point(n):
        stage = {"seconds": n / 10, "cpu_seconds": n / 20, "peak_rss_mb": 200 + n / 10, "load_average_1min": 1.0}
        return {"images": n, "files": 10 * n, "weights": "w",
                "stages": {"scan": dict(stage), "cv": dict(stage, fold_seconds=[1.0], epochs_run=[3], mean_test_auc=0.5),
                           "features": dict(stage, image_cache_mb=n * 0.1, image_cache_cap_mb=2048.0)}}

    earlier = {"points": [point(100), point(1000)], "machine": {"load_average": [9.0, 9.0, 9.0]},
               "settings": {"size": 224, "alpha": 0.35, "epochs": 80, "folds": 10}}
    path = tmp_path / "earlier.json"
    path.write_text(json.dumps(earlier))
    assert scale_curve.main(["--points", str(path), "--project", "10000", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["sizes"] == [100, 1000] and data["machine"] == earlier["machine"]
    assert data["exponents"]["scan"] == pytest.approx(1.0) and data["cpu_exponents"]["cv"] == pytest.approx(1.0)
    assert data["projected_total_seconds_10000"] == pytest.approx(3 * 1000.0)
    assert data["projected_total_seconds_linear_10000"] == pytest.approx(3 * 1000.0)  # a line through 0
    # scan peak: the line 200 + n / 10; the others less the LRU (0.1 MB per image) plus the LRU at 10,000
    assert data["curve"]["scan"]["projected_peak_rss_mb_10000"] == pytest.approx(1200.0)
    assert data["projected_image_cache_mb_10000"] == pytest.approx(1000.0)
    assert data["curve"]["features"]["projected_peak_rss_mb_10000"] == pytest.approx(1200.0)
    assert data["fits_memory"] is True
