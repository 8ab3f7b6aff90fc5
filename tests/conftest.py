"""Shared fixtures: an isolated workbench home per test session, quiet TensorFlow."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def isolated_home(tmp_path_factory, monkeypatch):
    """Every test gets its own GLAUCOMA_HOME unless it sets one itself."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("GLAUCOMA_HOME", str(home))
    return home
