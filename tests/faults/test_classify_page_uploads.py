"""Bad uploads on the Classify page (issue 7), through the real entry point in AppTest.

A store with one finished run (a real, untrained small_cnn classifier saved by the store) is
enough: each hostile upload gets a clear message naming the file, usable odd images (grayscale,
RGBA, unusual size) are classified with a note, a file over the configured upload limit is
refused, and uploaded names are only displayed: nothing is written where they point.
"""

from __future__ import annotations

import io
import uuid

import numpy as np
import pytest
from PIL import Image

from glaucoma_core.paths import PROJECT_ROOT

pytestmark = pytest.mark.slow

TIMEOUT_S = 120


@pytest.fixture(scope="module")
def home_with_model(tmp_path_factory):
    """A home whose store holds one finished run with a contract-abiding classifier."""
    from glaucoma_core.data.index import scan_dataset
    from glaucoma_core.networks.classifier import build_classifier
    from glaucoma_core.store import RunStore
    from glaucoma_core.training.fold_run import execute_run
    from tests.training.fakes import fake_train_fold, make_tiny_dataset, tiny_config

    base = tmp_path_factory.mktemp("classify_home")
    data = make_tiny_dataset(base / "data", folds=1, n_train=2, n_valid=3, n_test=2, size=32)
    store = RunStore(base / "home")
    config = tiny_config()

    def train(*args, **kwargs):
        result = fake_train_fold(*args, **kwargs)
        result.model = build_classifier(config)
        return result

    run = store.create_run(None, 1, config.to_dict(), str(data))
    outcome = execute_run(store, run, index=scan_dataset(data, home=store.home), train_fn=train, echo=None)
    assert outcome["status"] == "finished", outcome
    return base / "home"


@pytest.fixture
def page(home_with_model, tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    demo = tmp_path / "demo-standin"  # the sidebar's demo dataset, without the minute it takes to build
    for cls in ("normal", "abnormal"):
        (demo / cls).mkdir(parents=True)
        Image.new("RGB", (32, 32), (90, 40, 20)).save(demo / cls / "a.png")
    monkeypatch.setattr("glaucoma_core.data.demo.ensure_demo_dataset", lambda home=None, **_: demo)
    monkeypatch.setenv("GLAUCOMA_HOME", str(home_with_model))
    monkeypatch.delenv("GLAUCOMA_DATA_ROOT", raising=False)
    at = AppTest.from_file(str(PROJECT_ROOT / "streamlit_app.py"), default_timeout=TIMEOUT_S)
    at.run()
    at.switch_page("app_pages/classify.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.file_uploader(key="classify_upload") is not None
    return at


def _image(mode="RGB", size=(128, 128), fmt="PNG") -> bytes:
    rng = np.random.default_rng(0)
    pixels = Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).convert(mode)
    buffer = io.BytesIO()
    pixels.save(buffer, format=fmt)
    return buffer.getvalue()


def _upload(at, files):
    at.file_uploader(key="classify_upload").set_value(files).run()
    assert not at.exception, [e.value for e in at.exception]
    return [str(e.value) for e in at.error], [str(w.value) for w in at.warning]


def _probabilities(at) -> list[float]:
    return [float(m.value) for m in at.metric if m.label == "P(glaucoma)"]


@pytest.mark.parametrize(("name", "data", "words"), [
    ("page.jpg", b"<!DOCTYPE html><html><body>Error 404</body></html>", "not a usable image"),
    ("empty.png", b"", "empty file"),
    ("cut.jpg", _image(fmt="JPEG")[:300], "not a usable image"),
])
def test_unusable_upload_is_refused_by_name(page, name, data, words):
    errors, _ = _upload(page, [(name, data, "image/png")])
    assert any(name in e and words in e for e in errors), errors
    assert _probabilities(page) == []


def test_upload_over_the_configured_limit_is_refused(page):
    from streamlit import config

    limit_mb = int(config.get_option("server.maxUploadSize"))
    assert limit_mb == 25  # .streamlit/config.toml
    big = _image() + bytes((limit_mb + 1) * 1024 * 1024)  # a valid PNG followed by junk
    errors, _ = _upload(page, [("huge.png", big, "image/png"), ("fine.png", _image(), "image/png")])
    assert any("huge.png" in e and "too large" in e for e in errors), errors
    assert len(_probabilities(page)) == 1  # the other upload still gets its result


@pytest.mark.parametrize(("mode", "size", "note"), [
    ("L", (128, 128), "grayscale"),
    ("RGBA", (128, 128), "RGBA"),
    ("RGB", (900, 120), "unusual shape"),
    ("RGB", (3000, 2400), None),  # a large but ordinary photograph: classified without fuss
])
def test_odd_but_usable_images_are_classified_with_a_note(page, mode, size, note):
    errors, warnings = _upload(page, [("odd.png", _image(mode, size), "image/png")])
    assert not errors, errors
    [probability] = _probabilities(page)
    assert 0.0 <= probability <= 1.0
    if note:
        assert any(note in w for w in warnings), warnings


def test_uploaded_names_are_never_paths(page, tmp_path):
    target = tmp_path / f"evil_{uuid.uuid4().hex}.png"
    hostile = [f"../../../../../../../..{target}", "C:\\Windows\\evil.png", "line\nbreak.png"]
    errors, _ = _upload(page, [(name, _image(), "image/png") for name in hostile])
    assert not errors, errors
    assert _probabilities(page) and len(_probabilities(page)) == 3
    table = page.dataframe[0].value
    assert list(table["image"]) == [target.name, "evil.png", "line?break.png"]
    assert not target.exists() and not list(tmp_path.glob("evil_*"))
    assert not (PROJECT_ROOT / "C:\\Windows\\evil.png").exists()
