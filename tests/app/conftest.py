"""App test fixtures: one workbench home with the demo dataset and two tiny experiments."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.app.helpers import REPO, TINY, cli


@pytest.fixture(scope="session")
def app_home(tmp_path_factory):
    """A home with the demo dataset and two finished 2-fold experiments (1 epoch, 32 px).

    Trained once per test session by the CLI, as a user would; about a minute on 2 cores.
    """
    reuse = os.environ.get("GLAUCOMA_APP_TEST_HOME")  # developers: keep one trained home between runs
    if reuse and (Path(reuse) / "runs.sqlite").is_file():
        return Path(reuse)
    home = Path(reuse) if reuse else tmp_path_factory.mktemp("app_home")
    from glaucoma_core.data.demo import ensure_demo_dataset

    ensure_demo_dataset(home=home)
    env = {**os.environ, "GLAUCOMA_HOME": str(home), "TF_CPP_MIN_LOG_LEVEL": "3"}
    jobs = [
        subprocess.Popen([sys.executable, "-m", "glaucoma_core", "--home", str(home), "cv", *TINY,
                          "--set", "epochs=1", "--set", f"seed={seed}", "--folds", "1,2", "--name", name],
                         cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for seed, name in ((0, "tiny-a"), (1, "tiny-b"))
    ]
    for job in jobs:
        out, _ = job.communicate(timeout=900)
        assert job.returncode == 0, out[-3000:]
    cli(home, "runs")  # the store is readable
    return home


@pytest.fixture
def app_env(app_home, monkeypatch):
    """Point this test at the trained home (overrides the per-test home of tests/conftest.py)."""
    monkeypatch.setenv("GLAUCOMA_HOME", str(app_home))
    monkeypatch.delenv("GLAUCOMA_DATA_ROOT", raising=False)
    return app_home


@pytest.fixture
def app(app_env):
    """A fresh AppTest of the entry point, already run once (on the Dataset page)."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(REPO / "streamlit_app.py"), default_timeout=240)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at
