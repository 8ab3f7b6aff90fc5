"""Access from the app (issue 7): with GLAUCOMA_DATA_ROOT set, nothing outside it is opened.

The real entry point runs in AppTest with the folder typed into the sidebar: '..', absolute
paths outside the root and symlinks that escape it are refused with the reason (the app falls
back to the demo dataset, never to the folder asked for). Inside an allowed dataset, a file
or class folder that is a symlink leading outside is listed as a problem and never read, and
the image reader the other pages use (thumbnails of stored prediction paths) refuses such
paths too. The demo dataset is replaced by a tiny stand-in so no test waits for it.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from glaucoma_core.paths import PROJECT_ROOT

pytestmark = pytest.mark.slow

TIMEOUT_S = 120
N_INSIDE, N_OUTSIDE, N_DEMO = 8, 6, 4  # distinct counts tell which dataset the page shows


def _images(folder, n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    for i in range(n):
        cls = "abnormal" if i % 2 else "normal"
        (folder / cls).mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)).save(folder / cls / f"img_{i}.png")


@pytest.fixture
def tree(tmp_path, monkeypatch):
    """root/ (GLAUCOMA_DATA_ROOT) with inside/ and escape -> outside/; a demo stand-in."""
    root, outside, demo = tmp_path / "root", tmp_path / "outside", tmp_path / "demo-standin"
    _images(root / "inside", N_INSIDE, seed=0)
    _images(outside, N_OUTSIDE, seed=1)
    _images(demo, N_DEMO, seed=2)
    (root / "escape").symlink_to(outside, target_is_directory=True)
    (root / "inside_too").symlink_to(root / "inside", target_is_directory=True)  # stays inside: fine
    monkeypatch.setenv("GLAUCOMA_DATA_ROOT", str(root))
    monkeypatch.setattr("glaucoma_core.data.demo.ensure_demo_dataset", lambda home=None, **_: demo)
    return {"root": root, "outside": outside, "demo": demo}


def _app(folder: str):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(PROJECT_ROOT / "streamlit_app.py"), default_timeout=TIMEOUT_S)
    at.session_state["sidebar_dataset_choice"] = "A folder"
    at.session_state["sidebar_dataset_folder"] = folder
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _texts(elements) -> list[str]:
    return [str(e.value) for e in elements]


def _shown_images(at) -> str:
    return next(m.value for m in at.metric if m.label == "Images (rows)")


@pytest.mark.parametrize(("kind", "words"), [
    ("dotdot", "'..' is not allowed"),
    ("dotdot_inside", "'..' is not allowed"),
    ("absolute_outside", "outside the allowed data root"),
    ("escaping_symlink", "outside the allowed data root"),
    ("escaping_symlink_absolute", "outside the allowed data root"),
])
def test_folders_outside_the_data_root_are_refused(tree, kind, words):
    folder = {
        "dotdot": "../outside",
        "dotdot_inside": "inside/../../outside",
        "absolute_outside": str(tree["outside"]),
        "escaping_symlink": "escape",
        "escaping_symlink_absolute": str(tree["root"] / "escape"),
    }[kind]
    at = _app(folder)
    warnings = _texts(at.sidebar.warning)
    assert any(words in w and "Using the demo dataset" in w for w in warnings), warnings
    assert any(str(tree["demo"]) in c for c in _texts(at.sidebar.caption))
    assert not any(str(tree["outside"]) in c for c in _texts(at.sidebar.caption))
    assert _shown_images(at) == str(N_DEMO)  # the demo, not the N_OUTSIDE images asked for


@pytest.mark.parametrize("how", ["relative", "absolute", "internal_symlink"])
def test_folders_inside_the_data_root_open(tree, how):
    folder = {"relative": "inside", "absolute": str(tree["root"] / "inside"), "internal_symlink": "inside_too"}[how]
    at = _app(folder)
    assert not at.sidebar.warning, _texts(at.sidebar.warning)
    assert any(str(tree["root"] / "inside") in c for c in _texts(at.sidebar.caption))
    assert _shown_images(at) == str(N_INSIDE)


def test_symlinks_inside_a_dataset_that_lead_outside_are_never_read(tree):
    dataset = tree["root"] / "inside"
    (dataset / "normal" / "leak.png").symlink_to(tree["outside"] / "normal" / "img_0.png")
    (dataset / "abnormal" / "linked class").symlink_to(tree["outside"] / "abnormal", target_is_directory=True)
    at = _app("inside")
    leaked = {"normal/leak.png", *(f"abnormal/linked class/img_{i}.png" for i in range(1, N_OUTSIDE, 2))}
    problems = next(d.value for d in at.dataframe if {"relpath", "problem"} <= set(d.value.columns))
    reasons = dict(zip(problems["relpath"], problems["problem"], strict=True))
    assert set(reasons) == leaked, reasons
    assert all("outside the allowed data root" in r for r in reasons.values())
    assert next(m.value for m in at.metric if m.label == "Usable") == str(N_INSIDE)
    # the browser shows the reason, not the picture
    at.selectbox(key="browse_which").set_value("with a problem").run()
    assert not at.exception
    errors = _texts(at.error)
    assert len([e for e in errors if "outside the allowed data root" in e]) == len(leaked), errors


def test_image_reader_of_the_pages_refuses_paths_outside_the_data_root(tree, isolated_home, monkeypatch):
    """False negatives / Compare show thumbnails of stored prediction paths: those are confined too."""
    from app_pages._components.loaders import full_image, thumbnail

    outside = tree["outside"] / "normal" / "img_0.png"
    link = tree["root"] / "inside" / "normal" / "leak.png"
    link.symlink_to(outside)
    for path in (outside, link, tree["root"] / "inside" / ".." / ".." / "outside" / "normal" / "img_0.png"):
        assert "outside the allowed data root" in thumbnail(str(path))
        assert "outside the allowed data root" in full_image(str(path))
    assert isinstance(thumbnail(str(tree["root"] / "inside" / "normal" / "img_0.png")), np.ndarray)
    _images(isolated_home / "demo-data", 1, seed=3)  # the real demo dataset lives in the home
    assert isinstance(full_image(str(isolated_home / "demo-data" / "normal" / "img_0.png")), np.ndarray)
    monkeypatch.delenv("GLAUCOMA_DATA_ROOT")
    assert isinstance(thumbnail(str(outside)), np.ndarray)  # unrestricted without a data root


@pytest.mark.parametrize("where", ["outside", "escaping_symlink"])
def test_train_form_refuses_a_weights_file_outside_the_data_root(tree, where):
    """The form's ``weights`` field takes a file path: with a data root, only files inside it
    (or the home) may be opened, checked before the config validation reads the file."""
    secret = tree["outside"] / "model.weights.h5"
    secret.write_bytes(b"not weights")
    path = str(secret) if where == "outside" else str(tree["root"] / "escape" / "model.weights.h5")
    at = _app("inside")
    at.switch_page("app_pages/train.py").run()
    assert not at.exception, [e.value for e in at.exception]
    at.text_input(key="train_cfg_cpu-small_weights").set_value(path).run()
    assert not at.exception, [e.value for e in at.exception]
    errors = _texts(at.error)
    assert any("weights" in e and "outside the allowed data root" in e for e in errors), errors
    assert at.button(key="train_start").disabled
