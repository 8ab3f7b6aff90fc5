"""Issue 17, items 5, 8 (resamples) and 9: a one-class training fold is refused before anything
is recorded; bootstrap resamples are bounded; listings never print 'nan' for a missing error."""

from __future__ import annotations

import shutil
import time

import pytest

from glaucoma_core.cli import main
from glaucoma_core.errors import UserError
from glaucoma_core.store import RunStore
from glaucoma_core.workbench import Workbench
from tests.training.fakes import make_tiny_dataset, tiny_config


@pytest.fixture
def one_class_fold(tmp_path):
    """Two folds; fold 2's training split has only normal images (its glaucoma folder removed)."""
    data = make_tiny_dataset(tmp_path / "data", folds=2, n_train=4, n_valid=2, n_test=2, size=16)
    shutil.rmtree(data / "fold_2" / "train" / "abnormal")
    return data, tmp_path / "home"


@pytest.mark.parametrize("argv", [
    ["train", "--fold", "2", "--preset", "cpu-small"],
    ["cv", "--preset", "cpu-small"],
    ["cv", "--preset", "cpu-small", "--folds", "2"],
])
def test_a_fold_whose_training_images_are_one_class_is_refused_before_anything_is_recorded(one_class_fold, argv,
                                                                                            capsys):
    data, home = one_class_fold
    code = main(["--home", str(home), *argv, "--data", str(data), "--set", "batch_size=2", "--set", "epochs=1"])
    err = capsys.readouterr().err
    assert code == 2 and "fold 2" in err and "all normal" in err and "Traceback" not in err
    store = RunStore(home)
    assert store.runs().empty and store.experiments().empty


def test_the_job_api_refuses_it_too_and_a_two_class_fold_is_accepted(one_class_fold, monkeypatch):
    from glaucoma_core.training import jobs

    data, home = one_class_fold
    started = []
    monkeypatch.setattr(jobs, "_spawn", lambda *a, **k: started.append(a) or pytest.fail("a process started"))
    bench = Workbench(home)
    with pytest.raises(UserError, match="all normal"):
        bench.start_training(tiny_config(batch_size=2), data, 2)
    with pytest.raises(UserError, match="all normal"):
        bench.start_cross_validation(tiny_config(batch_size=2), data)
    assert bench.store.runs().empty and not started
    dataset = bench.dataset(data)
    assert bench.check_config(tiny_config(batch_size=2), dataset, [1])["batch_size"] == 2


@pytest.mark.parametrize("resamples", ["1000000000000", "100001", "0", "-5", "many"])
def test_bootstrap_resamples_are_bounded_at_the_boundary(tmp_path, resamples, capsys):
    store = RunStore(tmp_path)
    run = store.create_run(None, 1, {}, None)
    started = time.monotonic()
    try:
        code = main(["--home", str(tmp_path), "evaluate", f"run:{run}", "--bootstrap", resamples])
    except SystemExit as exit_:  # argparse refuses what is not a whole number >= 1
        code = exit_.code
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and ("bootstrap" in err or "--bootstrap" in err)
    assert time.monotonic() - started < 10  # refused, not attempted


def test_the_workbench_bounds_resamples_for_every_entry_point(tmp_path):
    with pytest.raises(UserError, match="bootstrap resamples"):
        Workbench(tmp_path).evaluate("run:1", n_resamples=10**12)


def test_runs_never_prints_nan_for_a_finished_run_beside_a_failed_one(tmp_path, capsys):
    store = RunStore(tmp_path)
    ok = store.create_run(None, 1, {"backbone": "small_cnn"}, None)
    store.finish_run(ok, "finished")
    bad = store.create_run(None, 1, {"backbone": "small_cnn"}, None)
    store.finish_run(bad, "failed", "disk full")
    assert main(["--home", str(tmp_path), "runs"]) == 0
    out = capsys.readouterr().out
    assert "nan" not in out.lower() and "disk full" in out
    line = next(row for row in out.splitlines() if row.split() and row.split()[0] == str(ok))
    assert line.rstrip().endswith("-")  # test AUC unknown: '-', and no error text
