"""CLI ``scan`` and ``folds``: JSON contract, readable output, clear errors."""

from __future__ import annotations

import json

import pytest

from glaucoma_core import cli
from tests.data.synthetic import HTML_PAGE, make_flat_dataset, write_image


def _run(capsys, *argv) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def flat(tmp_path):
    root = make_flat_dataset(tmp_path / "flat", n_normal=9, n_abnormal=6)
    (root / "normal" / "page.jpg").write_bytes(HTML_PAGE)
    return root


def test_scan_json_contract(capsys, flat):
    code, out, _ = _run(capsys, "scan", str(flat), "--json")
    assert code == 0
    report = json.loads(out)
    assert report["images"] == 16 and report["usable"] == 15 and report["layout"] == "flat"
    assert sum(c["n"] for c in report["counts"]) == 16
    assert {(c["fold"], c["split"], c["label"], c["n"]) for c in report["counts"]} == {(None, None, 0, 10),
                                                                                     (None, None, 1, 6)}
    assert report["problems"] == [{"path": str(flat / "normal" / "page.jpg"), "relpath": "normal/page.jpg",
                                   "reason": "not an image: HTML page"}]
    assert report["leaks"] == [] and report["duplicates"] == []
    assert report["sizes"] == [{"width": 24, "height": 20, "n": 15}]


def test_folds_then_scan_reads_back_counts_equal_to_files(capsys, flat, tmp_path):
    out_dir = tmp_path / "cv"
    code, out, _ = _run(capsys, "folds", str(flat), str(out_dir), "--k", "3", "--seed", "4", "--json")
    assert code == 0
    made = json.loads(out)
    assert made["images"] == 15 and made["files_written"] == 45
    assert [s["reason"] for s in made["skipped"]] == ["not an image: HTML page"]

    code, out, _ = _run(capsys, "scan", str(out_dir), "--json")
    report = json.loads(out)
    files_on_disk = [p for p in out_dir.rglob("*.png") if p.is_file()]
    assert report["images"] == len(files_on_disk) == 45
    assert sum(c["n"] for c in report["counts"]) == 45
    assert {c["fold"] for c in report["counts"]} == {1, 2, 3}
    assert report["leaks"] == [] and report["problems"] == []
    for fold in (1, 2, 3):
        assert sum(c["n"] for c in report["counts"] if c["fold"] == fold and c["split"] == "test") == 5


def test_scan_reports_leaks_in_json_and_text(capsys, tmp_path):
    root = tmp_path / "cv"
    write_image(root / "fold_1" / "test" / "abnormal" / "x.png", 1)
    write_image(root / "fold_1" / "train" / "abnormal" / "x_again.png", 1)
    write_image(root / "fold_1" / "train" / "normal" / "y.png", 2)
    code, out, _ = _run(capsys, "scan", str(root), "--json")
    leaks = json.loads(out)["leaks"]
    assert len(leaks) == 1 and leaks[0]["fold"] == 1 and leaks[0]["splits"] == ["train", "test"]
    assert set(leaks[0]) >= {"fold", "sha256", "splits"}
    code, out, _ = _run(capsys, "scan", str(root))
    assert code == 0 and "Leaks (1" in out and "fold_1/test/abnormal/x.png" in out


def test_scan_text_summary_is_readable(capsys, flat):
    (flat / "abnormal" / "odd\nname ü.png").write_bytes((flat / "abnormal" / "a_000.png").read_bytes())
    code, out, _ = _run(capsys, "scan", str(flat))
    assert code == 0
    for words in ("Counts by fold x split x class", "normal", "glaucoma", "Totals by class", "Image sizes: 24x20",
                  "Problems (1 files not usable)", "normal/page.jpg: not an image: HTML page", "Duplicates (1",
                  "odd\\nname ü.png"):
        assert words in out, words
    assert "odd\nname" not in out  # a newline in a file name does not break the listing


@pytest.mark.parametrize("argv, words", [
    (["scan", "{tmp}/missing"], "no such folder"),
    (["scan", "{tmp}"], "not a dataset folder"),
    (["folds", "{flat}", "{flat}/../cv", "--k", "100"], "cannot fill 100 folds"),
    (["folds", "{flat}", "{tmp}/cv", "--groups", "{tmp}/none.csv"], "cannot read groups CSV"),
])
def test_errors_are_one_line_without_traceback(capsys, flat, tmp_path, argv, words):
    argv = [a.format(tmp=tmp_path / "empty", flat=flat) for a in argv]
    (tmp_path / "empty").mkdir()
    code, out, err = _run(capsys, *argv)
    assert code == 2 and words in err and "Traceback" not in err


def test_folds_text_output_and_invalid_numbers(capsys, flat, tmp_path):
    code, out, _ = _run(capsys, "folds", str(flat), str(tmp_path / "cv"), "--k", "3")
    assert code == 0 and "Wrote 3 folds of 15 images" in out and "Skipped 1 unusable" in out
    with pytest.raises(SystemExit):
        cli.main(["folds", str(flat), str(tmp_path / "cv2"), "--valid-fraction", "1.5"])
    assert "must be in [0, 1)" in capsys.readouterr().err


def test_scan_without_argument_uses_the_demo_dataset(capsys, monkeypatch, tmp_path):
    demo = pytest.importorskip("glaucoma_core.data.demo")
    root = make_flat_dataset(tmp_path / "demo-like", 2, 2)
    monkeypatch.setattr(demo, "resolve_data_root", lambda data=None, home=None: root)
    code, out, _ = _run(capsys, "scan", "--json")
    assert code == 0 and json.loads(out)["root"] == str(root)
