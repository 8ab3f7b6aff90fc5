"""Metadata baseline: high on a planted size shortcut (pointing to the normalisation), low without."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from glaucoma_core.cli import main
from glaucoma_core.data.folds import make_folds
from glaucoma_core.external.baseline import NORMALISATION_FIELD, compare_with_baseline
from glaucoma_core.workbench import Workbench
from tests.external.helpers import synthetic_flat


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    root = tmp_path_factory.mktemp("baseline")
    bench = Workbench(root / "home")
    out = {}
    for name, scale in (("planted", 2), ("plain", 1)):
        flat = synthetic_flat(root / f"{name}_flat", 60, seed=11, size=48, glaucoma_scale=scale)
        folds = make_folds(flat, root / name, k=3, seed=0, home=bench.home).attrs["root"]
        exp = bench.store.create_experiment(name, {"backbone": "small_cnn"}, folds, "fp", [1, 2, 3])
        out[name] = exp
    return bench, out


def test_planted_size_shortcut_is_found(datasets, capsys):
    bench, experiments = datasets
    result = bench.metadata_baseline(f"exp:{experiments['planted']}")
    assert result["auc"] > 0.95 and result["auc_ci95"][0] > 0.85
    assert result["n_test"] == 60 and [f["fold"] for f in result["per_fold"]] == [1, 2, 3]
    assert result["single"].iloc[0]["property"] in ("width", "height", "kilobytes")
    assert result["shortcut"] and result["flagged"]  # no trained fold yet: nothing beats it
    assert NORMALISATION_FIELD in result["suggestion"] and NORMALISATION_FIELD in result["warning"]
    assert main(["--home", str(bench.home), "baseline", f"exp:{experiments['planted']}"]) == 0
    text = capsys.readouterr().out
    assert "metadata baseline" in text and NORMALISATION_FIELD in text
    assert main(["--home", str(bench.home), "baseline", f"exp:{experiments['planted']}", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["shortcut"] is True


def test_no_shortcut_without_planting(datasets):
    bench, experiments = datasets
    result = bench.metadata_baseline(f"exp:{experiments['plain']}")
    assert result["auc"] < 0.75 and not result["shortcut"]
    assert result["suggestion"] == ""


def test_compare_with_baseline_rules():
    single = pd.DataFrame([{"property": "width", "name": "width (px)", "auc": 0.9, "flagged": True}])
    baseline = {"auc": 0.88, "single": single}
    weak = compare_with_baseline(0.90, baseline)
    assert weak["flagged"] and not weak["beats"] and weak["shortcut"] and NORMALISATION_FIELD in weak["suggestion"]
    assert compare_with_baseline(0.90, baseline, normalised=True)["suggestion"] == ""
    strong = compare_with_baseline(0.97, {"auc": 0.6, "single": single.assign(flagged=False)})
    assert strong["beats"] and not strong["flagged"] and strong["warning"] == ""
    assert compare_with_baseline(math.nan, baseline)["flagged"]


def test_dataset_page_warning_names_the_setting():
    from glaucoma_core.data.shortcuts import shortcut_report

    table = pd.DataFrame({"label": [0] * 5 + [1] * 5, "width": [500] * 5 + [1000] * 5, "height": [500] * 10,
                          "bytes": list(range(10)), "brightness": [1, 2, 3, 4, 5] * 2})
    report = shortcut_report(table).set_index("property")
    assert NORMALISATION_FIELD in report.loc["width", "message"]
    assert NORMALISATION_FIELD not in report.loc["height", "message"]  # not flagged: nothing to set
    pixels = shortcut_report(table.assign(brightness=range(10)), {"brightness": "mean brightness"})
    assert pixels.iloc[0]["flagged"] and NORMALISATION_FIELD not in pixels.iloc[0]["message"]
