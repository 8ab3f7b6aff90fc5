"""The Studies page in AppTest: a study's leaderboard, the estimate it says it shows, opening the
winner on the Cross-validation page, and launching a study from the form."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.studies import fakes
from tests.studies.conftest import head_definition

REPO = Path(__file__).resolve().parents[2]
WEIGHTS = REPO.parent / "shared" / "imagenet" / "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_224_no_top.h5"


def open_app(home, data, monkeypatch):
    """The app on ``data`` (the sidebar's folder) with ``home`` as the workbench home."""
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("GLAUCOMA_HOME", str(home))
    monkeypatch.delenv("GLAUCOMA_DATA_ROOT", raising=False)
    at = AppTest.from_file(str(REPO / "streamlit_app.py"), default_timeout=240)
    at.session_state["sidebar_dataset_choice"] = "A folder"
    at.session_state["sidebar_dataset_folder"] = str(data)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.fixture()
def page(bench, study_data, monkeypatch):
    return open_app(bench.home, study_data, monkeypatch)


def test_page_shows_the_leaderboard_and_opens_the_winner(page, bench, study_data):
    study_id = bench.create_study(head_definition(study_data, n_trials=4))
    report = bench.run_study(study_id, train_fn=fakes.fake_study_train_fold, echo=None)
    at = page.switch_page("app_pages/studies.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value == "Studies"
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Selected trial"] == str(report["selected"])
    assert metrics["Cannot be told apart from it"] == str(report["n_indistinguishable"])
    assert any("the chosen trial's test figures" in s.value for s in at.success)
    board = at.dataframe[0].value
    assert len(board) == 4 and set(board["trial"]) == {0, 1, 2, 3}
    assert board.iloc[0]["trial"] == report["selected"]  # the selected trial first
    assert not board.isna().any().any() and "None" not in board.astype(str).to_numpy()
    winner = next(t for t in report["trials"] if t["id"] == report["selected"])
    [button] = [b for b in at.button if b.key == "study_open_winner"]
    button.click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.session_state["cv_experiment"] == int(winner["experiment"].split(":")[1])
    assert at.title[0].value == "Cross-validation"


def test_page_without_studies_says_how_to_make_one(page):
    at = page.switch_page("app_pages/studies.py").run()
    assert not at.exception
    assert any("No study yet" in i.value for i in at.info)


@pytest.mark.skipif(not WEIGHTS.is_file(), reason="needs ../shared/imagenet (MobileNetV2 alpha 0.35 weights)")
def test_start_records_the_study_and_launches_it_in_the_background(bench, tmp_path, monkeypatch):
    from glaucoma_core.workbench import Workbench
    from tests.training.fakes import make_tiny_dataset

    data = make_tiny_dataset(tmp_path / "data32", folds=3, n_train=16, n_valid=4, n_test=4, size=16)
    launched = []
    monkeypatch.setattr(Workbench, "start_study",
                        lambda self, ref, **options: launched.append((ref, options)) or 4242)
    at = open_app(bench.home, data, monkeypatch).switch_page("app_pages/studies.py").run()
    at.number_input(key="study_trials").set_value(2)
    at.text_input(key="study_weights").set_value(str(WEIGHTS))
    at.radio(key="study_executor").set_value("ray").run()  # the address opens once Ray is chosen
    at.text_input(key="study_ray_address").set_value("10.0.0.5:6379")
    at.number_input(key="study_prune_warmup").set_value(1)
    at.button(key="study_start").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    assert len(launched) == 1 and launched[0][1] == {"executor": "ray", "address": "10.0.0.5:6379"}
    [listed] = bench.studies()
    assert listed["n_trials"] == 2 and listed["preset"] == "cpu-transfer-head"
    assert at.session_state["study_selected"] == listed["study"]
    from glaucoma_core.studies.runner import load_study

    definition = load_study(bench, listed["study"])[1]
    assert definition.prune_warmup_folds == 1 and definition.prune_min_trials == 3


def test_an_interrupted_study_can_be_resumed_from_the_page(page, bench, study_data, monkeypatch):
    from glaucoma_core.workbench import Workbench

    study_id = bench.create_study(head_definition(study_data, n_trials=3))
    launched = []
    monkeypatch.setattr(Workbench, "start_study",
                        lambda self, ref, **options: launched.append((ref, options)) or 4242)
    at = page.switch_page("app_pages/studies.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("no process is running it" in i.value for i in at.info)
    at.button(key="study_resume").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert launched == [(f"study:{study_id}", {})]  # where it last ran: the study remembers
