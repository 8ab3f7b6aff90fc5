"""Cached access to heavy objects: the dataset index, thumbnails, image statistics.

Each cache is keyed on what identifies the object *and* on the modification time of its
files, so a changed dataset or a re-saved model is read again, never served stale.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

# ---- dataset -------------------------------------------------------------------------

def folder_signature(root: str | os.PathLike, depth: int = 3) -> tuple[float, int]:
    """(latest mtime, number of folders) of ``root`` and its sub-folders down to ``depth``.

    Adding or removing an image changes the mtime of its class folder, which lies at most
    three levels down (fold/split/class), so this detects changes without listing files.
    """
    root = Path(root)
    latest, count = 0.0, 0
    frontier = [root]
    for _ in range(depth + 1):
        next_frontier = []
        for folder in frontier:
            try:
                latest = max(latest, folder.stat().st_mtime)
                count += 1
                next_frontier.extend(p for p in folder.iterdir() if p.is_dir() and not p.is_symlink())
            except OSError:
                continue
        frontier = next_frontier
    return latest, count


@st.cache_data(show_spinner="Scanning the dataset…", max_entries=4)
def _scan(root: str, home: str, signature: tuple[float, int], data_root: str | None) -> pd.DataFrame:
    from glaucoma_core.workbench.datasets import scan

    return scan(root, Path(home)).index


def dataset_index(root: Path, home: Path) -> pd.DataFrame:
    """The index of the dataset at ``root``, scanned by the workbench as the CLI scans it
    (cached; rescanned when its folders change, or when $GLAUCOMA_DATA_ROOT changes: a dataset
    inside the data root is scanned confined to it, a file whose symlink leads outside is listed
    with a problem, never read)."""
    return _scan(str(root), str(home), folder_signature(root), _data_root())


@st.cache_resource(show_spinner="Preparing the demo dataset (first start only)…")
def demo_dataset(home: str) -> Path:
    from glaucoma_core.data.demo import ensure_demo_dataset

    return Path(ensure_demo_dataset(home=home))


def _data_root() -> str | None:
    """$GLAUCOMA_DATA_ROOT resolved, or None when the app may open any folder."""
    from glaucoma_core.data.access import data_root

    root = data_root()
    return str(root) if root is not None else None


def _readable_roots() -> tuple[str, ...] | None:
    """Folders images may be read from: the data root and the home (demo dataset); None = anywhere."""
    root = _data_root()
    if root is None:
        return None
    from glaucoma_core.paths import home_dir

    return (root, os.path.realpath(home_dir()))


def _refused(path: str, roots: tuple[str, ...] | None) -> str | None:
    """Why ``path`` may not be read (its real path lies outside ``roots``), else None."""
    if roots is None:
        return None
    from glaucoma_core.data.safe_files import is_inside

    if any(is_inside(path, root) for root in roots):
        return None
    return f"outside the allowed data root {roots[0]}"


def _mtime(path: str | os.PathLike) -> float:
    try:
        return os.stat(path).st_mtime
    except OSError:
        return -1.0


@st.cache_data(max_entries=2000, show_spinner=False)
def _thumbnail(path: str, size: int, mtime: float, roots: tuple[str, ...] | None = None) -> np.ndarray | str:
    from glaucoma_core.data.images import ImageProblem, load_rgb

    refused = _refused(path, roots)
    if refused:
        return refused
    try:
        image = load_rgb(path)
    except ImageProblem as exc:
        return exc.reason
    image.thumbnail((size, size))
    return np.asarray(image)


def thumbnail(path: str, size: int = 160) -> np.ndarray | str:
    """A small RGB array of the image at ``path``, or the reason it cannot be read."""
    return _thumbnail(str(path), size, _mtime(path), _readable_roots())


@st.cache_data(max_entries=16, show_spinner=False)
def _full_image(path: str, mtime: float, roots: tuple[str, ...] | None = None) -> np.ndarray | str:
    from glaucoma_core.data.images import ImageProblem, load_rgb

    refused = _refused(path, roots)
    if refused:
        return refused
    try:
        return np.asarray(load_rgb(path))
    except ImageProblem as exc:
        return exc.reason


def full_image(path: str) -> np.ndarray | str:
    """The whole image at ``path`` as an RGB array, or the reason it cannot be read."""
    return _full_image(str(path), _mtime(path), _readable_roots())


@st.cache_data(show_spinner=False, max_entries=8)
def _image_statistics(root: str, signature: tuple[float, int], per_class: int, _index: pd.DataFrame):
    from glaucoma_core.data.image_stats import image_statistics
    from glaucoma_core.data.index import usable

    return image_statistics(usable(_index), per_class=per_class)


def cached_image_statistics(root: Path, home: Path, per_class: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Pixel statistics and colour histograms of the dataset at ``root`` (cached with the index)."""
    signature = folder_signature(root)
    return _image_statistics(str(root), signature, int(per_class), dataset_index(root, home))
