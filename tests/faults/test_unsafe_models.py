"""Unsafe and damaged model files (issue 7): safe_mode only, a Lambda layer is refused, a broken
model file makes only its own run unusable, in the store, the CLI and the Classify page.

The Lambda layer here touches a marker file when it runs: Keras runs a Lambda while it rebuilds
the graph, so with ``safe_mode=False`` the marker appears. Refused means refused *before* its
code runs. A static check keeps every ``load_model`` call in the code on ``safe_mode=True``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from glaucoma_core.cli import main
from glaucoma_core.paths import PROJECT_ROOT
from glaucoma_core.store import ModelFileProblem, RunStore

SOURCES = [PROJECT_ROOT / "streamlit_app.py", *(PROJECT_ROOT / "glaucoma_core").rglob("*.py"),
           *(PROJECT_ROOT / "app_pages").rglob("*.py")]


# ---------------------------------------------------------------- static: safe_mode everywhere


def _dotted(node) -> str:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    return ".".join(reversed(parts))


def test_every_keras_load_model_call_uses_safe_mode_true():
    checked, offences = 0, []
    for path in SOURCES:
        tree = ast.parse(path.read_text(), filename=str(path))
        where = path.relative_to(PROJECT_ROOT)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(("keras", "tensorflow")):
                if any(alias.name == "load_model" for alias in node.names):
                    offences.append(f"{where}:{node.lineno}: imports load_model bare (call keras.saving.load_model)")
            if isinstance(node, ast.Call):
                name = _dotted(node.func)
                if "enable_unsafe_deserialization" in name:
                    offences.append(f"{where}:{node.lineno}: {name}()")
                for kw in node.keywords:
                    if kw.arg == "safe_mode" and not (isinstance(kw.value, ast.Constant) and kw.value.value is True):
                        offences.append(f"{where}:{node.lineno}: safe_mode not the constant True")
                if name.endswith("load_model") and name.split(".")[0] in ("keras", "tf", "tensorflow"):
                    checked += 1
                    if not any(kw.arg == "safe_mode" for kw in node.keywords):
                        offences.append(f"{where}:{node.lineno}: {name}() without safe_mode=True")
    assert not offences, offences
    assert checked >= 1  # the store's loader was seen


# ---------------------------------------------------------------- a Lambda model in the store


def _lambda_model_file(path: Path, marker: Path) -> None:
    import keras

    code = f"lambda x: (__import__('pathlib').Path({str(marker)!r}).touch(), x)[1]"
    inputs = keras.Input((32, 32, 3))
    hidden = keras.layers.Lambda(eval(code))(inputs)  # noqa: S307 - the hostile layer under test
    outputs = keras.layers.Dense(2, activation="softmax", name="probabilities")(
        keras.layers.GlobalAveragePooling2D()(hidden))
    keras.Model(inputs, outputs).save(path)
    marker.unlink(missing_ok=True)  # building the model ran it once; only loading counts now


@pytest.fixture
def store_with_two_runs(tmp_path):
    """An experiment of two finished fold runs with real (untrained) classifiers, and an image."""
    from glaucoma_core.networks.classifier import build_classifier
    from tests.training.fakes import make_tiny_dataset, tiny_config

    data = make_tiny_dataset(tmp_path / "data", folds=1, n_train=1, n_valid=1, n_test=1, size=32)
    store = RunStore(tmp_path / "home")
    config = tiny_config()
    model = build_classifier(config)
    experiment = store.create_experiment("two folds", config.to_dict(), str(data), None, [1, 2])
    runs = []
    for fold in (1, 2):
        run = store.create_run(experiment, fold, config.to_dict(), str(data))
        store.mark_running(run)
        store.save_model(run, model)
        store.finish_run(run, "finished")
        runs.append(run)
    image = next((data / "fold_1" / "test" / "abnormal").iterdir())
    return store, runs, image


@pytest.mark.slow
def test_lambda_model_in_the_store_is_refused_before_its_code_runs(store_with_two_runs, tmp_path, capsys):
    store, (bad, good), image = store_with_two_runs
    marker = tmp_path / "lambda_ran"
    _lambda_model_file(store.model_path(bad), marker)
    with pytest.raises(ModelFileProblem) as caught:
        store.load_model(bad)
    assert "unsafe" in caught.value.reason and "Lambda" in caught.value.reason
    assert not marker.exists(), "the Lambda layer's code ran while loading"
    assert store.load_model(good) is not None  # the other run keeps working

    home = ["--home", str(store.home)]
    assert main([*home, "predict", "--run", str(bad), str(image)]) == 2
    err = capsys.readouterr().err
    assert "unsafe" in err and "Traceback" not in err
    assert main([*home, "predict", "--run", str(good), str(image), "--json"]) == 0
    assert not marker.exists()


# ---------------------------------------------------------------- the Classify page


@pytest.mark.slow
@pytest.mark.parametrize("damage", ["delete", "corrupt", "lambda"])
def test_classify_page_names_the_broken_fold_model_and_uses_the_others(store_with_two_runs, tmp_path, monkeypatch,
                                                                        damage):
    """An experiment of two fold models, one broken: the page says which and why, and classifies."""
    import io

    from PIL import Image
    from streamlit.testing.v1 import AppTest

    store, (bad, good), image = store_with_two_runs
    path = store.model_path(bad)
    marker = tmp_path / "lambda_ran"
    if damage == "delete":
        path.unlink()
    elif damage == "corrupt":
        path.write_bytes(path.read_bytes()[:500])
    else:
        _lambda_model_file(path, marker)

    demo = tmp_path / "demo-standin"
    for cls in ("normal", "abnormal"):
        (demo / cls).mkdir(parents=True)
        Image.new("RGB", (32, 32)).save(demo / cls / "a.png")
    monkeypatch.setattr("glaucoma_core.data.demo.ensure_demo_dataset", lambda home=None, **_: demo)
    monkeypatch.setenv("GLAUCOMA_HOME", str(store.home))
    monkeypatch.delenv("GLAUCOMA_DATA_ROOT", raising=False)
    at = AppTest.from_file(str(PROJECT_ROOT / "streamlit_app.py"), default_timeout=120)
    at.run()
    # the pages list the runs of the active dataset: choose the experiment's own folder
    at.radio(key="sidebar_dataset_choice").set_value("A folder").run()
    at.text_input(key="sidebar_dataset_folder").set_value(store.run(bad)["data_root"]).run()
    at.switch_page("app_pages/classify.py").run()
    assert not at.exception, [e.value for e in at.exception]
    at.radio(key="classify_source").set_value(at.radio(key="classify_source").options[1]).run()
    assert not at.exception, [e.value for e in at.exception]
    errors = [str(e.value) for e in at.error]
    assert any(f"Run {bad}" in e and "model file is" in e for e in errors), errors
    assert not any(f"Run {good}" in e for e in errors), errors
    buffer = io.BytesIO()
    Image.open(image).save(buffer, format="PNG")
    at.file_uploader(key="classify_upload").set_value(("eye.png", buffer.getvalue(), "image/png")).run()
    assert not at.exception, [e.value for e in at.exception]
    probabilities = [float(m.value) for m in at.metric if m.label == "P(glaucoma)"]
    assert len(probabilities) == 1 and 0.0 <= probabilities[0] <= 1.0
    assert not marker.exists()
