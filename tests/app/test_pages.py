"""Every page in AppTest on the demo dataset with trained runs, and the main interactions."""

from __future__ import annotations

import io
import re

import numpy as np
import pytest
from PIL import Image

from glaucoma_core.data.index import scan_dataset
from glaucoma_core.store.run_store import RunStore
from tests.app.helpers import PAGES, wait_for

pytestmark = pytest.mark.slow


def _page(at, name: str):
    at.switch_page(f"app_pages/{name}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _texts(elements) -> list[str]:
    return [str(e.value) for e in elements]


@pytest.mark.parametrize("name", PAGES)
def test_every_page_renders_without_exception(app, name):
    at = _page(app, name)
    assert at.title[0].value  # each page has its title


def test_dataset_counts_filters_and_full_view(app, app_env):
    from glaucoma_core.data.demo import ensure_demo_dataset

    index = scan_dataset(ensure_demo_dataset(home=app_env), home=app_env)
    at = _page(app, "dataset")
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Images (rows)"] == f"{len(index):,}"
    assert metrics["Folds"] == "10"
    # Filters: fold 3, test split, glaucoma only.
    at.multiselect(key="browse_folds").set_value([3])
    at.multiselect(key="browse_splits").set_value(["test"])
    at.multiselect(key="browse_classes").set_value(["glaucoma"]).run()
    expected = int(((index["fold"] == 3) & (index["split"] == "test") & (index["label"] == 1)).sum())
    assert any(f"{expected:,} images match" in c for c in _texts(at.caption))
    view_buttons = [b for b in at.button if b.label == "View"]
    assert 0 < len(view_buttons) <= 24
    view_buttons[0].click().run()
    assert not at.exception
    assert at.session_state["browse_selected"] in set(index["path"])
    assert any(b.label == "Close" for b in at.button)  # the full-size panel is open
    # Pagination over all images.
    at.multiselect(key="browse_folds").set_value([])
    at.multiselect(key="browse_splits").set_value([])
    at.multiselect(key="browse_classes").set_value([]).run()
    at.number_input(key="browse_page").set_value(2).run()
    assert any("page 2 of" in c for c in _texts(at.caption))


def _write_dataset(root, glaucoma_width: int):
    """A flat dataset where glaucoma images are ``glaucoma_width`` wide and normal ones 64."""
    rng = np.random.default_rng(0)
    for cls, width in (("normal", 64), ("abnormal", glaucoma_width)):
        folder = root / cls
        folder.mkdir(parents=True)
        for i in range(8):
            Image.fromarray(rng.integers(0, 255, (64, width, 3), dtype=np.uint8)).save(folder / f"{cls}_{i}.png")


def test_shortcut_warning_when_width_separates_the_classes(app, tmp_path):
    _write_dataset(tmp_path / "shortcut", glaucoma_width=96)
    _write_dataset(tmp_path / "fair", glaucoma_width=64)
    at = app
    at.radio(key="sidebar_dataset_choice").set_value("A folder").run()
    at.text_input(key="sidebar_dataset_folder").set_value(str(tmp_path / "shortcut")).run()
    assert not at.exception
    warnings = _texts(at.warning)
    assert any("Possible shortcut" in w and "image width" in w for w in warnings), warnings
    at.text_input(key="sidebar_dataset_folder").set_value(str(tmp_path / "fair")).run()
    assert not any("Possible shortcut" in w and "width" in w for w in _texts(at.warning))


def test_data_root_confines_the_folder_choice(app, tmp_path, monkeypatch):
    allowed = tmp_path / "allowed"
    _write_dataset(allowed / "inside", glaucoma_width=64)
    (tmp_path / "outside").mkdir()
    monkeypatch.setenv("GLAUCOMA_DATA_ROOT", str(allowed))
    at = app
    at.radio(key="sidebar_dataset_choice").set_value("A folder").run()
    at.text_input(key="sidebar_dataset_folder").set_value("../outside").run()
    assert not at.exception
    assert any("Using the demo dataset" in w for w in _texts(at.sidebar.warning))
    assert any("demo-data" in c for c in _texts(at.sidebar.caption))
    at.text_input(key="sidebar_dataset_folder").set_value("inside").run()
    assert not at.exception
    assert any("inside" in c for c in _texts(at.sidebar.caption))
    assert at.metric[0].value == "16"


def test_train_start_live_curve_and_cancel(app, app_env):
    store = RunStore(app_env)
    before = set(store.runs()["id"])
    at = _page(app, "train")
    # Many epochs so that it surely still runs when cancelled; the cancel ends it early.
    at.number_input(key="train_cfg_cpu-small_epochs").set_value(40)
    at.number_input(key="train_cfg_cpu-small_early_stopping_patience").set_value(40)
    at.number_input(key="train_cfg_cpu-small_input_size").set_value(32)
    at.number_input(key="train_cfg_cpu-small_batch_size").set_value(32).run()
    assert not at.error, _texts(at.error)
    at.button(key="train_start").click().run()
    assert not at.exception and not at.error, _texts(at.error)
    run_id = at.session_state["train_watch"]
    assert run_id not in before and store.run(run_id)["config"]["epochs"] == 40

    def epochs_shown():
        at.run()
        assert not at.exception
        epoch = next(m.value for m in at.metric if m.label == "Epoch")
        return int(epoch.split()[0]) if int(epoch.split()[0]) >= 1 else 0

    first = wait_for(epochs_shown, timeout=300, what="the first epoch on the page")
    assert at.get("vega_lite_chart"), "no curve drawn"
    assert "of 40" in next(m.value for m in at.metric if m.label == "Epoch")
    # Cancel: the run stops after its current epoch and keeps its best model.
    at.button(key=f"cancel_{run_id}").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert store.run(run_id)["cancel_requested"]
    wait_for(lambda: store.run(run_id)["status"] == "cancelled", timeout=300, what="the run to stop")
    assert first <= len(store.epochs([run_id])) < 40
    assert store.model_path(run_id).is_file()  # the best model so far is kept
    at.run()
    assert not at.exception
    table = at.dataframe[-1].value
    assert table.loc[table["run"] == run_id, "status"].iloc[0] == "cancelled"


def test_train_refuses_an_invalid_configuration(app):
    at = _page(app, "train")
    at.number_input(key="train_cfg_cpu-small_learning_rate").set_value(-0.1).run()
    errors = _texts(at.error)
    assert any("learning_rate" in e for e in errors), errors
    assert at.button(key="train_start").disabled
    at.number_input(key="train_cfg_cpu-small_learning_rate").set_value(0.001)
    at.number_input(key="train_cfg_cpu-small_batch_size").set_value(100000).run()
    assert any("batch_size" in e and "training images" in e for e in _texts(at.error))


def test_threshold_slider_moves_the_false_negatives(app, app_env):
    at = _page(app, "false_negatives")
    run_id = at.selectbox(key="fn_run").value
    test = RunStore(app_env).predictions([run_id], split="test").drop_duplicates("sha256")
    n_glaucoma = int((test["label"] == 1).sum())

    def fn():
        return int(next(m.value for m in at.metric if m.label.startswith("Missed glaucoma")))

    at.slider(key="fn_threshold").set_value(0.0).run()
    assert not at.exception and fn() == 0
    at.slider(key="fn_threshold").set_value(1.0).run()
    assert not at.exception and fn() == int((test.loc[test["label"] == 1, "probability"] < 1.0).sum())
    assert fn() <= n_glaucoma
    at.radio(key="fn_mode").set_value("An experiment (all folds pooled)").run()
    assert not at.exception


def _png(mode="RGB", size=(128, 128)) -> bytes:
    buffer = io.BytesIO()
    colour = {"RGB": (180, 60, 40), "L": 90, "RGBA": (180, 60, 40, 100)}[mode]
    Image.new(mode, size, colour).save(buffer, format="PNG")
    return buffer.getvalue()


def test_classify_upload_gives_a_probability_and_a_csv(app, app_env):
    from glaucoma_core.data.demo import ensure_demo_dataset

    demo = ensure_demo_dataset(home=app_env)
    image = next((demo / "fold_01" / "test" / "abnormal").iterdir()).read_bytes()
    at = _page(app, "classify")
    at.file_uploader(key="classify_upload").set_value([("eye.png", image, "image/png"),
                                                       ("other.png", _png(), "image/png")]).run()
    assert not at.exception and not at.error, _texts(at.error)
    probabilities = [float(m.value) for m in at.metric if m.label == "P(glaucoma)"]
    assert len(probabilities) == 2 and all(0.0 <= p <= 1.0 for p in probabilities)
    table = at.dataframe[0].value
    assert list(table["image"]) == ["eye.png", "other.png"]
    assert any(b.label.startswith("Download the results") for b in at.get("download_button"))
    # A cross-validation experiment: mean of the fold models, with their spread.
    at.radio(key="classify_source").set_value(at.radio(key="classify_source").options[1]).run()
    assert not at.exception
    assert any(re.search(r"fold models: sd \d", c) for c in _texts(at.caption))


def test_classify_non_image_upload_gives_the_error(app):
    at = _page(app, "classify")
    at.file_uploader(key="classify_upload").set_value(("notes.jpg", b"<html><body>not a photo</body></html>",
                                                       "image/jpeg")).run()
    assert not at.exception
    assert any("notes.jpg" in e and "not a usable image" in e for e in _texts(at.error)), _texts(at.error)
    assert not [m for m in at.metric if m.label == "P(glaucoma)"]


def test_compare_and_cross_validation_side_by_side(app):
    at = _page(app, "compare")
    at.radio(key="compare_mode").set_value("Experiments").run()
    assert not at.exception
    tests = [d.value for d in at.dataframe if "DeLong p" in d.value.columns]
    assert tests and tests[0]["DeLong p"].between(0, 1).all()
    at = _page(at, "cross_validation")
    assert any("Paired tests" in str(md.value) for md in at.markdown)
    per_fold = at.dataframe[1].value
    assert set(per_fold["fold"]) == {1, 2} and {"auc", "fn", "fn_rate"} <= set(per_fold.columns)


def test_cross_validation_launch_progress_and_cancel(app, app_env):
    store = RunStore(app_env)
    before = set(store.experiments()["id"])
    at = _page(app, "cross_validation")
    at.multiselect(key="cv_folds").set_value([1])
    at.number_input(key="cv_cfg_cpu-small_epochs").set_value(2)
    at.number_input(key="cv_cfg_cpu-small_input_size").set_value(32)
    at.text_input(key="cv_name").set_value("from-the-page").run()
    at.button(key="cv_start").click().run()
    assert not at.exception and not at.error, _texts(at.error)
    exp_id = at.session_state["cv_experiment"]
    assert exp_id not in before and store.experiment(exp_id)["name"] == "from-the-page"
    assert any("Progress" in str(md.value) for md in at.markdown)
    at.button(key="cv_cancel").click().run()
    assert not at.exception
    wait_for(lambda: store.runs(experiment_id=exp_id)["status"].isin(["cancelled", "finished"]).all(),
             timeout=300, what="the cross-validation to stop")


@pytest.fixture
def empty_home(tmp_path, monkeypatch):
    """A home with a small demo dataset and no runs at all."""
    from glaucoma_core.data.demo import generate_demo_dataset
    from glaucoma_core.paths import demo_data_dir

    home = tmp_path / "empty_home"
    generate_demo_dataset(demo_data_dir(home), n_images=40, k=2, image_size=64)
    monkeypatch.setenv("GLAUCOMA_HOME", str(home))
    monkeypatch.delenv("GLAUCOMA_DATA_ROOT", raising=False)
    return home


@pytest.mark.parametrize("name, hint", [
    ("train", "No runs yet"), ("cross_validation", "No cross-validation yet"), ("compare", "at least two"),
    ("false_negatives", "No finished run yet"), ("classify", "No trained model yet"),
])
def test_empty_store_says_what_to_do_next(empty_home, name, hint):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file("../../streamlit_app.py", default_timeout=120).run()
    at = _page(at, name)
    assert any(hint in i for i in _texts(at.info)), _texts(at.info)
