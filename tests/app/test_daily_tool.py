"""Issue 13 in AppTest: the Runs page, dataset scope, the form's memory, live CV results, captions."""

from __future__ import annotations

import json

import pytest

from glaucoma_core.store.run_store import RunStore
from tests.app.helpers import REPO

pytestmark = pytest.mark.slow


def _page(at, name: str):
    at.switch_page(f"app_pages/{name}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _texts(elements) -> list[str]:
    return [str(e.value) for e in elements]


@pytest.fixture
def spare_run(app_env):
    """A finished lone run on the demo dataset with a model folder, to rename, archive and delete."""
    from glaucoma_core.data.demo import ensure_demo_dataset

    store = RunStore(app_env)
    config = store.experiments()["config"].iloc[0]
    run_id = store.create_run(None, None, config, str(ensure_demo_dataset(home=app_env)))
    store.finish_run(run_id, "finished")
    folder = store.run_dir(run_id)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.keras").write_bytes(b"not a real model")
    yield run_id
    if run_id in set(store.runs()["id"]):
        from glaucoma_core.workbench import Workbench

        Workbench(app_env).delete(f"run:{run_id}")


def test_runs_page_renames_tags_archives_and_deletes_with_the_model_files(app, app_env, spare_run):
    store = RunStore(app_env)
    at = _page(app, "runs")
    assert any("demo dataset" in c for c in _texts(at.caption))
    tables = [d.value for d in at.dataframe]
    assert tables and set(store.experiments()["id"]) <= set(tables[0]["id"])  # experiments of this dataset
    at.selectbox(key="runs_pick_run").set_value(spare_run).run()
    assert not at.exception
    at.text_input(key=f"runs_run_{spare_run}_name").set_value("my baseline")
    at.text_input(key=f"runs_run_{spare_run}_tags").set_value("baseline, lr")
    at.text_area(key=f"runs_run_{spare_run}_notes").set_value("first try")
    next(b for b in at.button if "Save name" in str(b.label)).click().run()
    assert not at.exception
    notes = store.annotations("run").set_index("id").loc[spare_run]
    assert notes["name"] == "my baseline" and notes["tags"] == ["baseline", "lr"] and notes["notes"] == "first try"
    # The filter finds it by tag.
    at.text_input(key="runs_filter").set_value("baseline").run()
    assert list(at.dataframe[-1].value["id"]) == [spare_run]
    # Archive hides it; "Show archived" lists it again.
    at.selectbox(key="runs_pick_run").set_value(spare_run).run()
    at.button(key=f"runs_run_{spare_run}_archive").click().run()
    assert store.annotations("run").set_index("id").loc[spare_run, "archived"]
    assert all(spare_run not in set(d.value.get("id", [])) for d in at.dataframe)
    at.toggle(key="runs_archived").set_value(True).run()
    at.selectbox(key="runs_pick_run").set_value(spare_run).run()
    # Delete asks first: the button is disabled until the box is ticked.
    delete = at.button(key=f"runs_run_{spare_run}_delete")
    assert delete.disabled
    at.checkbox(key=f"runs_run_{spare_run}_sure").check().run()
    at.button(key=f"runs_run_{spare_run}_delete").click().run()
    assert not at.exception
    assert spare_run not in set(store.runs()["id"]) and not store.run_dir(spare_run).exists()
    assert any("Deleted run:" in s for s in _texts(at.success))


def test_new_run_from_these_settings_fills_the_train_form(app, app_env, spare_run):
    store = RunStore(app_env)
    store.annotate("run", spare_run)  # exists
    at = _page(app, "runs")
    at.selectbox(key="runs_pick_run").set_value(spare_run).run()
    at.button(key="runs_new_run").click().run()
    assert not at.exception
    config = store.run(spare_run)["config"]
    assert at.number_input(key="train_cfg_cpu-small_input_size").value == config["input_size"]
    assert at.number_input(key="train_cfg_cpu-small_epochs").value == config["epochs"]


def test_the_training_form_survives_a_reload(app):
    at = _page(app, "train")
    at.number_input(key="train_cfg_cpu-small_learning_rate").set_value(0.0005)
    at.number_input(key="train_cfg_cpu-small_epochs").set_value(7).run()
    assert not at.exception
    memory = json.loads(at.query_params["train_cfg"][0] if isinstance(at.query_params["train_cfg"], list)
                        else at.query_params["train_cfg"])
    assert memory["preset"] == "cpu-small" and memory["set"]["epochs"] == 7
    # A reload: a new session on the same URL.
    from streamlit.testing.v1 import AppTest

    again = AppTest.from_file(str(REPO / "streamlit_app.py"), default_timeout=240)
    again.query_params["train_cfg"] = json.dumps(memory)
    again.run()
    again = _page(again, "train")
    assert again.number_input(key="train_cfg_cpu-small_epochs").value == 7
    assert again.number_input(key="train_cfg_cpu-small_learning_rate").value == pytest.approx(0.0005)


def test_pages_list_only_the_active_datasets_experiments(app, tmp_path):
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for cls in ("normal", "abnormal"):
        (tmp_path / "other" / cls).mkdir(parents=True)
        for i in range(6):
            Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(tmp_path / "other" / cls / f"{i}.png")
    at = app
    at.radio(key="sidebar_dataset_choice").set_value("A folder").run()
    at.text_input(key="sidebar_dataset_folder").set_value(str(tmp_path / "other")).run()
    at = _page(at, "cross_validation")
    assert any("No cross-validation yet" in i for i in _texts(at.info))
    assert any("of other datasets not listed" in c for c in _texts(at.caption))
    for name in ("compare", "false_negatives", "classify"):
        at = _page(at, name)
        assert not [s for s in at.selectbox if "exp " in str(s.options)], name


def test_false_negatives_threshold_chosen_on_validation_is_applied_and_galleries(app, app_env):
    from glaucoma_core.evaluation.thresholds import choose_and_apply

    at = _page(app, "false_negatives")
    run_id = at.selectbox(key="fn_run").value
    predictions = RunStore(app_env).predictions([run_id])
    chosen = choose_and_apply(predictions, "target_sensitivity", 0.9)["choice"]["threshold"]
    at.button(key="fn_use_chosen").click().run()
    assert not at.exception
    assert at.slider(key="fn_threshold").value == pytest.approx(chosen, abs=1e-6)
    labels = [str(t.label) for t in at.tabs]
    assert any(label.startswith("Missed glaucoma (FN)") for label in labels)
    assert any(label.startswith("False alarms (FP)") for label in labels)
    assert any("(CSV)" in str(b.label) for b in at.get("download_button"))
    assert any(str(b.label) == "Enlarge" for b in at.button)
    # Every thumbnail is named by its file and fold.
    assert any(".png" in c and "fold" in c for c in _texts(at.caption)) or any(
        ".jpg" in c and "fold" in c for c in _texts(at.caption))
    # Another run, or an experiment: the slider starts again from that one's Youden threshold.
    at.slider(key="fn_threshold").set_value(0.99).run()
    at.radio(key="fn_mode").set_value("An experiment (all folds pooled)").run()
    assert not at.exception
    assert at.slider(key="fn_threshold").value != pytest.approx(0.99)
    at.toggle(key="fn_gallery_rule").set_value(True).run()
    assert not at.exception
    assert any("each fold's threshold" in c for c in _texts(at.caption) + _texts(at.success))


def test_classify_warns_when_an_upload_is_unlike_the_training_images(app):
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (1411, 1000), (120, 60, 30)).save(buffer, format="JPEG")
    at = _page(app, "classify")
    at.file_uploader(key="classify_upload").set_value(("full_field.jpg", buffer.getvalue(), "image/jpeg")).run()
    assert not at.exception
    assert any("Unlike the training images" in w and "1411 px" in w for w in _texts(at.warning)), _texts(at.warning)


def _flat(root, widths=(64, 64), n=8):
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(1)
    for cls, width in zip(("normal", "abnormal"), widths, strict=True):
        (root / cls).mkdir(parents=True)
        for i in range(n):
            Image.fromarray(rng.integers(0, 255, (64, width, 3), dtype=np.uint8)).save(root / cls / f"{cls}_{i}.png")


def test_dataset_page_on_a_flat_dataset_and_making_its_folds(app, tmp_path):
    _flat(tmp_path / "flat", widths=(64, 96))
    at = app
    at.radio(key="sidebar_dataset_choice").set_value("A folder").run()
    at.text_input(key="sidebar_dataset_folder").set_value(str(tmp_path / "flat")).run()
    assert not at.exception
    # Size shortcuts (width, pixel count, aspect) are one warning, not three.
    size_warnings = [w for w in _texts(at.warning) if "Possible shortcut" in w and "image size" in w]
    assert len(size_warnings) == 1 and "image width" in size_warnings[0]
    assert not any("once per fold" in c for c in _texts(at.caption))  # no fold wording on a flat dataset
    assert any(c.replace("\\", "").startswith("normal_0.png") for c in _texts(at.caption))  # thumbnails are named
    at.number_input(key="folds_k").set_value(2)
    at.text_input(key="folds_out").set_value(str(tmp_path / "folds")).run()
    at.button(key="folds_make").click().run()
    assert not at.exception and not at.error, _texts(at.error)
    assert (tmp_path / "folds" / "fold_01").is_dir() and (tmp_path / "folds" / "fold_assignment.csv").is_file()
    assert any("2 folds written" in s for s in _texts(at.success))
    # The new folds are a dataset the app reads with its folds.
    at.text_input(key="sidebar_dataset_folder").set_value(str(tmp_path / "folds")).run()
    assert not at.exception
    assert next(m.value for m in at.metric if m.label == "Folds") == "2"


def test_dataset_page_warns_at_the_top_about_unusable_files(app, tmp_path):
    _flat(tmp_path / "broken")
    (tmp_path / "broken" / "normal" / "bad.png").write_bytes(b"not an image")
    at = app
    at.radio(key="sidebar_dataset_choice").set_value("A folder").run()
    at.text_input(key="sidebar_dataset_folder").set_value(str(tmp_path / "broken")).run()
    assert any("1 unusable file" in w for w in _texts(at.warning)), _texts(at.warning)


def test_cross_validation_captions_columns_and_the_html_report(app):
    at = _page(app, "cross_validation")
    summary = next(d.value for d in at.dataframe if "mean" in d.value.columns)
    assert {"95 % low", "95 % high"} <= set(summary.columns) and "ci_low" not in summary.columns
    assert any(m.label == "Missed (FN)" for m in at.metric)
    assert any("Per fold** (fixed threshold 0.50)" in str(md.value) for md in at.markdown)
    at.button(key="cv_report").click().run()
    assert not at.exception and not at.error, _texts(at.error)
    assert any(str(b.label) == "Download the report (HTML)" for b in at.get("download_button"))
