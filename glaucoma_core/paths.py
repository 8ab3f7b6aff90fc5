"""Where the workbench keeps things: the home folder (run store, caches, demo data)."""

from __future__ import annotations

import os
from pathlib import Path

from glaucoma_core.errors import UserError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# From a checkout the home defaults to its models/ folder; an installed package (site-packages)
# keeps its runs in the user's home folder instead.
DEFAULT_HOME = (PROJECT_ROOT / "models" if (PROJECT_ROOT / "models").is_dir() and (PROJECT_ROOT / "pyproject.toml").is_file()
                else Path.home() / ".glaucoma-workbench")


def home_dir(home: str | os.PathLike | None = None) -> Path:
    """The workbench home: ``home`` if given, else ``$GLAUCOMA_HOME``, else :data:`DEFAULT_HOME`
    (``models/`` of a checkout, ``~/.glaucoma-workbench`` for an installed package).

    Created if missing. Raises :class:`HomeError` (a UserError) when it names a file, or a
    folder that cannot be created (a parent is a file, permission denied, read-only disk).
    """
    chosen = home or os.environ.get("GLAUCOMA_HOME") or DEFAULT_HOME
    source = "--home" if home else "GLAUCOMA_HOME" if os.environ.get("GLAUCOMA_HOME") else "the default home"
    if "\x00" in os.fspath(chosen):
        raise HomeError(f"{source}: the folder name contains a NUL character")
    path = Path(chosen).expanduser().resolve()
    return _make_folder(path, f"{source} {path}")


def _make_folder(path: Path, what: str) -> Path:
    if path.exists() and not path.is_dir():
        raise HomeError(f"{what} is a file, not a folder; point it at a folder (it is created if missing)")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise HomeError(f"{what}: cannot create the folder ({exc.strerror or exc})") from None
    return path


class HomeError(UserError):
    """The workbench home (or a folder in it) cannot be used; the message says which and why."""


def cache_dir(home: str | os.PathLike | None = None) -> Path:
    """Cache folder under the home (scan cache, feature cache)."""
    base = home_dir(home)
    return _make_folder(base / "cache", f"cache folder {base / 'cache'}")


def demo_data_dir(home: str | os.PathLike | None = None) -> Path:
    """Where the demo dataset is generated on first use (may not exist yet)."""
    return home_dir(home) / "demo-data"
