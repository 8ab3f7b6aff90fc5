"""Fixtures of the app fault tests: a small home with one stored (untrained) model.

The bad-upload tests need a model to classify with, not a good one: an untrained small CNN
saved through the run store is enough, and takes seconds instead of a training run.
"""

from __future__ import annotations

import pytest

from tests.app.helpers import REPO


@pytest.fixture(scope="session")
def upload_home(tmp_path_factory):
    home = tmp_path_factory.mktemp("upload_home")
    from glaucoma_core.config import TrainConfig
    from glaucoma_core.data.demo import generate_demo_dataset
    from glaucoma_core.networks.classifier import build_classifier
    from glaucoma_core.paths import demo_data_dir
    from glaucoma_core.store.run_store import RunStore

    generate_demo_dataset(demo_data_dir(home), n_images=40, k=2, image_size=64)
    config = TrainConfig(backbone="small_cnn", input_size=32, weights="none", mixed_precision="off", xla="off")
    store = RunStore(home)
    run_id = store.create_run(None, 1, config.to_dict(), str(demo_data_dir(home)))
    store.mark_running(run_id)
    store.save_model(run_id, build_classifier(config))
    store.finish_run(run_id, "finished")
    return home


@pytest.fixture
def app(upload_home, monkeypatch):
    """An AppTest of the entry point over ``upload_home``, run once."""
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("GLAUCOMA_HOME", str(upload_home))
    monkeypatch.delenv("GLAUCOMA_DATA_ROOT", raising=False)
    at = AppTest.from_file(str(REPO / "streamlit_app.py"), default_timeout=240)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at
