"""``scan --prepare CONFIG``: what a config's preparation finds on a dataset."""

from __future__ import annotations

import json

from glaucoma_core.cli import main
from glaucoma_core.data.demo import generate_demo_dataset


def test_scan_prepare_reports_crops_and_unsure_images(tmp_path, capsys):
    root = generate_demo_dataset(tmp_path / "ff", n_images=8, k=2, image_size=128, style="full-field", seed=1)
    (root / "fold_01" / "test" / "normal" / "blank.png").write_bytes(b"")  # a broken file: not prepared
    assert main(["scan", str(root), "--prepare", "cpu-transfer", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)["preparation"]
    assert report["images"] == 8 and report["size"] == 224 and report["settings"]["disc_crop"] == "auto"
    assert sum(report["counts"].values()) == 8 and report["counts"].get("cropped", 0) >= 6
    assert main(["scan", str(root), "--prepare", "cpu-transfer"]) == 0
    text = capsys.readouterr().out
    assert "fundus preparation (disc crop auto" in text and "cropped:" in text


def test_scan_prepare_with_an_unknown_preset_is_a_clear_error(tmp_path, capsys):
    root = generate_demo_dataset(tmp_path / "d", n_images=8, k=2, image_size=48)
    assert main(["scan", str(root), "--prepare", "no-such-preset"]) == 2
    err = capsys.readouterr().err
    assert "no-such-preset" in err and "Traceback" not in err
