"""Bad data (issue 7): a corpus of hostile files next to good ones.

Scan, image loading, folds and the scan command use every good image and report every bad
one with its reason; nothing crashes, nothing hangs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from glaucoma_core.data.folds import make_folds
from glaucoma_core.data.images import ImageProblem, load_rgb, load_rgb_array
from glaucoma_core.data.index import scan_dataset, usable
from glaucoma_core.paths import PROJECT_ROOT
from tests.faults.hostile_corpus import EXPECTED, EXPECTED_BAD, EXPECTED_GOOD, write_hostile_corpus


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile") / "dataset"
    write_hostile_corpus(root)
    return root


@pytest.fixture(scope="module")
def index(corpus):
    started = time.perf_counter()
    result = scan_dataset(corpus, use_cache=False, workers=2)
    assert time.perf_counter() - started < 60  # a bomb is refused, not decoded
    return result.set_index("relpath")


def test_every_file_indexed_exactly_as_expected(index):
    assert sorted(index.index) == sorted(EXPECTED)  # clutter, hidden files, text ignored; folder loop cut


@pytest.mark.parametrize("relpath", sorted(EXPECTED_BAD))
def test_bad_file_reported_with_reason(index, relpath):
    problem = index.loc[relpath, "problem"]
    assert EXPECTED_BAD[relpath].lower() in problem.lower(), problem


@pytest.mark.parametrize("relpath", sorted(EXPECTED_GOOD))
def test_good_file_usable(index, corpus, relpath):
    assert index.loc[relpath, "problem"] == ""
    array = load_rgb_array(corpus / relpath)
    assert array.dtype == np.uint8 and array.ndim == 3 and array.shape[2] == 3
    assert (index.loc[relpath, "height"], index.loc[relpath, "width"]) == array.shape[:2]


def test_odd_modes_kept_and_exif_orientation_reported(index):
    assert index.loc["normal/cmyk.jpg", "mode"] == "CMYK"
    assert index.loc["normal/sixteen_bit.png", "mode"].startswith("I")
    assert index.loc["abnormal/rgba.png", "mode"] == "RGBA"
    assert index.loc["abnormal/palette.png", "mode"] == "P"
    rotated = index.loc["abnormal/exif_rotated.jpg"]
    assert (rotated["width"], rotated["height"]) == (20, 40)  # stored 40 x 20 with orientation 6


def test_labels_of_good_and_bad_files(index):
    assert (index.loc[[p for p in EXPECTED if p.startswith("abnormal/")], "label"] == 1).all()
    assert (index.loc[[p for p in EXPECTED if p.startswith("normal/")], "label"] == 0).all()


@pytest.mark.parametrize("relpath", sorted(EXPECTED_BAD))
def test_load_rgb_refuses_bad_files(corpus, relpath):
    with pytest.raises(ImageProblem) as caught:
        load_rgb(corpus / relpath)
    assert EXPECTED_BAD[relpath].lower() in caught.value.reason.lower()


def test_bomb_bytes_and_uploads_are_refused_quickly(corpus):
    started = time.perf_counter()
    for name in ("bomb_20000x20000.png", "bomb_20000x20000.jpg"):
        data = (corpus / "abnormal" / name).read_bytes()
        assert len(data) < 10_000
        with pytest.raises(ImageProblem, match="too large"):
            load_rgb(data)
    assert time.perf_counter() - started < 5


def test_rescan_from_cache_gives_the_same_answer(corpus, index):
    scan_dataset(corpus)
    second = scan_dataset(corpus)
    assert second.attrs["decoded"] == 0
    assert second.set_index("relpath")["problem"].sort_index().equals(index["problem"].sort_index())


def test_folds_use_good_images_and_report_bad_ones(corpus, tmp_path):
    result = make_folds(corpus, tmp_path / "cv", k=3, seed=0)
    skipped = result[result["problem"] != ""]
    assert {os.path.relpath(p, corpus) for p in skipped["source"]} == set(EXPECTED_BAD)
    written = result[result["problem"] == ""]
    assert {os.path.relpath(p, corpus) for p in written["source"]} == set(EXPECTED_GOOD)
    out_index = scan_dataset(tmp_path / "cv")
    assert len(out_index) == 3 * len(EXPECTED_GOOD) and len(usable(out_index)) == len(out_index)
    assert any("\n" in p for p in out_index["relpath"])  # odd names survive the trip


def test_scan_command_on_the_corpus_does_not_crash_or_hang(corpus, isolated_home):
    env = dict(os.environ, GLAUCOMA_HOME=str(isolated_home))
    done = subprocess.run([sys.executable, "-m", "glaucoma_core", "scan", str(corpus), "--json"],
                          capture_output=True, text=True, timeout=120, cwd=PROJECT_ROOT, env=env)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["images"] == len(EXPECTED) and report["usable"] == len(EXPECTED_GOOD)
    reasons = {p["relpath"]: p["reason"] for p in report["problems"]}
    assert set(reasons) == set(EXPECTED_BAD)
    text = subprocess.run([sys.executable, "-m", "glaucoma_core", "scan", str(corpus)],
                          capture_output=True, text=True, timeout=120, cwd=PROJECT_ROOT, env=env)
    assert text.returncode == 0 and f"Problems ({len(EXPECTED_BAD)} files not usable)" in text.stdout
    assert "abnormal/cut off\\nnaïve 眼.jpg: truncated" in text.stdout  # newline escaped, unicode kept
