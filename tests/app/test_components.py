"""Fast tests of the pages' glue: time formatting, progress numbers, folder signature, escaping."""

from __future__ import annotations

import os
import time

import pandas as pd

from app_pages._components.live import format_seconds, progress_numbers
from app_pages._components.loaders import folder_signature
from app_pages._components.text import md_escape


def test_format_seconds():
    assert format_seconds(None) == "–"
    assert format_seconds(42.4) == "42 s"
    assert format_seconds(185) == "3 min 05 s"
    assert format_seconds(3720) == "1 h 02 min"


def test_progress_numbers_of_a_running_run():
    run = {"status": "running", "started_at": 1000.0, "finished_at": None, "config": {"epochs": 10}}
    epochs = pd.DataFrame({"epoch": [1, 2], "epoch_seconds": [5.0, 7.0], "images_per_second": [100.0, 120.0]})
    numbers = progress_numbers(run, epochs, now=1020.0)
    assert numbers == {"done": 2, "planned": 10, "elapsed": 20.0, "remaining": 8 * 6.0, "speed": 120.0}


def test_progress_numbers_of_a_finished_run_has_no_remaining_time():
    run = {"status": "finished", "started_at": 1000.0, "finished_at": 1030.0,
           "config": {"epochs": 2, "fine_tune_epochs": 1}}
    numbers = progress_numbers(run, pd.DataFrame({"epoch": [1, 2, 3]}), now=5000.0)
    assert numbers["planned"] == 3 and numbers["elapsed"] == 30.0 and numbers["remaining"] is None


def test_folder_signature_changes_when_an_image_is_added(tmp_path):
    folder = tmp_path / "fold_1" / "train" / "normal"
    folder.mkdir(parents=True)
    before = folder_signature(tmp_path)
    time.sleep(0.01)
    (folder / "new.png").write_bytes(b"x")
    os.utime(folder, (time.time() + 5, time.time() + 5))
    assert folder_signature(tmp_path) != before


def test_md_escape_neutralises_links_and_emphasis():
    assert md_escape("[x](javascript:alert(1))") == "\\[x\\]\\(javascript:alert\\(1\\)\\)"
    assert md_escape("a_b*c") == "a\\_b\\*c"
    assert md_escape("plain.jpg") == "plain.jpg"
