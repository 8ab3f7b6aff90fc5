"""Where the workbench keeps things: the home folder (run store, caches, demo data)."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def home_dir(home: str | os.PathLike | None = None) -> Path:
    """The workbench home: ``home`` if given, else ``$GLAUCOMA_HOME``, else ``models/``.

    Created if missing.
    """
    chosen = home or os.environ.get("GLAUCOMA_HOME") or PROJECT_ROOT / "models"
    path = Path(chosen).expanduser().resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def cache_dir(home: str | os.PathLike | None = None) -> Path:
    """Cache folder under the home (scan cache, feature cache)."""
    path = home_dir(home) / "cache"
    path.mkdir(parents=True, exist_ok=True)
    return path


def demo_data_dir(home: str | os.PathLike | None = None) -> Path:
    """Where the demo dataset is generated on first use (may not exist yet)."""
    return home_dir(home) / "demo-data"
