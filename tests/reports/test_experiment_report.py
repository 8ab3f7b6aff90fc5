"""The HTML experiment report (issue 13): self-contained, the evaluate figures, the CLI command."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from glaucoma_core.cli import main
from glaucoma_core.errors import UserError
from glaucoma_core.reports.experiment_report import missed_glaucoma
from glaucoma_core.workbench import ThresholdRule, Workbench


@pytest.fixture
def experiment(tmp_path):
    """A home with a finished 2-fold experiment (stored predictions of real image files)."""
    bench = Workbench(tmp_path / "home")
    data = tmp_path / "data"
    rng = np.random.default_rng(0)
    config = {"backbone": "small_cnn", "input_size": 32, "learning_rate": 0.001, "optimizer": "adam", "epochs": 2,
              "batch_size": 8, "loss": "categorical_crossentropy", "lr_schedule": "cosine", "seed": 0,
              "early_stopping": False, "weights": "none", "augment_hflip": True}
    exp = bench.store.create_experiment("report-me", config, str(data), "abc123", [1, 2])
    for fold in (1, 2):
        run = bench.store.create_run(exp, fold, config, str(data))
        rows = []
        for split in ("valid", "test"):
            for i in range(12):
                label = i % 2
                path = data / f"fold_{fold}" / split / ("abnormal" if label else "normal") / f"img_{fold}_{i}.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(rng.integers(0, 255, (24, 24, 3), dtype=np.uint8)).save(path)
                probability = float(np.clip(0.3 + 0.35 * label + rng.normal(0, 0.2), 0, 1))
                rows.append({"split": split, "path": str(path), "sha256": f"{fold}{split}{i}", "label": label,
                             "probability": probability})
        bench.store.save_predictions(run, pd.DataFrame(rows))
        bench.store.finish_run(run, "finished")
    return bench, exp


def test_report_is_self_contained_and_has_the_evaluate_figures(experiment):
    bench, exp = experiment
    rule = ThresholdRule("youden")
    text = bench.report(f"exp:{exp}", rule, n_resamples=50)
    result = bench.evaluate(f"exp:{exp}", rule, n_resamples=50)
    assert text.startswith("<!DOCTYPE html>") and "report-me" in text
    # Nothing fetched from the network: no script, no external stylesheet or image.
    assert "<script" not in text and "<link" not in text
    assert not re.findall(r'(?:src|href)="https?://', text)
    assert text.count("<svg") >= 3  # ROC, precision-recall, confusion matrix
    for heading in ("Methods", "Dataset and folds", "Threshold rule", "Per fold", "Mean ± sd", "Missed glaucoma",
                    "Configuration"):
        assert heading in text
    assert f"{result['pooled']['auc']:.3f}" in text
    assert "youden (chosen on each fold" in text
    missed = missed_glaucoma(bench.predictions(f"exp:{exp}").query("split == 'test'"), result["thresholds"])
    assert f"Missed glaucoma ({len(missed)})" in text
    assert text.count("data:image/jpeg;base64,") == min(len(missed), 24)


def test_report_command_writes_the_file_and_refuses_bad_input(experiment, tmp_path, capsys):
    bench, exp = experiment
    out = tmp_path / "report.html"
    assert main(["--home", str(bench.home), "report", "report-me", "--out", str(out), "--resamples", "20"]) == 0
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert main(["--home", str(bench.home), "report", f"exp:{exp}", "--out", str(tmp_path / "no" / "r.html")]) == 2
    assert "no such folder" in capsys.readouterr().err
    assert main(["--home", str(bench.home), "report", "exp:99", "--out", str(out)]) == 2
    with pytest.raises(UserError):
        bench.report("run:1", ThresholdRule())
