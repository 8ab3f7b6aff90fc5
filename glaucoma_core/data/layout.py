"""Finding the image files of a dataset folder and what its folder names say about each.

Two layouts are recognised:

- ``folds``: the paper's cross-validation layout ``ROOT/<fold>/<split>/<class>/<image>``.
  Fold folders are named ``fold_1``, ``Fold1``, ``1``, ``CV_01``, ... and ordered by their
  number; split folders ``train|training``, ``valid|validation|val``, ``test|testing``. A single
  split set without fold folders (``ROOT/<split>/<class>/<image>``) is read as fold 1.
- ``flat``: ``ROOT/<class>/<image>``, how public databases ship (no folds, no splits).

Class folder names go through :func:`glaucoma_core.labels.label_from_class_name` (abnormal,
glaucoma, ... -> 1; normal, healthy, ... -> 0); never their alphabetical order. Images may sit
in sub-folders of a class folder. Hidden files and folders, OS clutter (``.DS_Store``,
``Thumbs.db``, ``desktop.ini``, ``__MACOSX``, AppleDouble ``._*`` files) and files without an
image extension are ignored. Symlinked folders are followed once (loops are cut); a file
symlink that loops or dangles is listed, so the scan reports it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from glaucoma_core import labels
from glaucoma_core.data.images import is_image_name

CLUTTER_NAMES = frozenset({"thumbs.db", "desktop.ini", "__macosx", "$recycle.bin", "system volume information"})


class DatasetLayoutError(ValueError):
    """The folder is missing or its layout is not one we know; the message says what was found."""


@dataclass(frozen=True)
class ImageEntry:
    """One image file found: where it is and what its folders say.

    path: absolute path; relpath: posix path relative to the root; fold: fold number or None;
    split: 'train'|'valid'|'test' or None; class_name: the class folder's name as on disk;
    label: 0 or 1.
    """

    path: str
    relpath: str
    fold: int | None
    split: str | None
    class_name: str
    label: int


@dataclass
class DiscoveredDataset:
    """Result of :func:`discover`: layout ('folds' or 'flat'), image entries, ignored folders,
    the fold numbers whose folders exist (``folds``, even those without images) and the class
    folders that hold no image file (``empty``, relpaths)."""

    root: str
    layout: str
    entries: list[ImageEntry]
    ignored: list[str] = field(default_factory=list)  # relpaths of folders that are not part of the layout
    folds: list[int] = field(default_factory=list)
    empty: list[str] = field(default_factory=list)


def undecodable(text: str) -> bool:
    """True when a file name (as Python decoded it) holds bytes that are not valid UTF-8
    (a Latin-1 name like ``caf\\xe9.jpg`` from an old camera or a Windows share)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def printable(text: str) -> str:
    """``text`` with bytes that are not valid UTF-8 shown as ``\\xNN`` (safe to print, store
    in pandas or SQLite); unchanged when it is valid."""
    if not undecodable(text):
        return text
    return os.fsencode(text).decode("utf-8", "backslashreplace")


def is_ignored_name(name: str) -> bool:
    """Hidden files, AppleDouble files and OS clutter."""
    return name.startswith(".") or name.lower() in CLUTTER_NAMES


def _subdirs(path: str) -> list[os.DirEntry]:
    try:
        with os.scandir(path) as it:
            found = []
            for entry in it:
                if is_ignored_name(entry.name):
                    continue
                try:
                    if entry.is_dir():  # follows symlinks
                        found.append(entry)
                except OSError:
                    continue
            return sorted(found, key=lambda e: e.name)
    except OSError:
        return []


def _dir_key(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def _images_below(folder: str, visited: set[tuple[int, int]]) -> list[str]:
    """Image files below ``folder`` (recursive, sorted). Sub-folders whose (device, inode) is
    in ``visited`` are skipped (symlink loops, links back to other class folders)."""
    found: list[str] = []
    try:
        with os.scandir(folder) as it:
            entries = sorted(it, key=lambda e: e.name)
    except OSError:
        return found
    for entry in entries:
        if is_ignored_name(entry.name):
            continue
        try:
            is_dir = entry.is_dir()
        except OSError:
            is_dir = False
        if is_dir:
            key = _dir_key(entry.path)
            if key is not None and key not in visited:
                visited.add(key)
                found.extend(_images_below(entry.path, visited))
        elif is_image_name(entry.name):
            found.append(entry.path)  # includes dangling / looping symlinks: the scan reports them
    return found


@dataclass(frozen=True)
class _ClassFolder:
    path: str
    name: str
    fold: int | None
    split: str | None
    label: int


def _split_set(folder: str, root: str, fold: int | None, ignored: list[str]) -> list[_ClassFolder]:
    """Class folders of ``folder/<split>/<class>/``."""
    found: list[_ClassFolder] = []
    for split_dir in _subdirs(folder):
        split = labels.split_from_name(split_dir.name)
        if split is None:
            ignored.append(os.path.relpath(split_dir.path, root))
            continue
        for class_dir in _subdirs(split_dir.path):
            label = labels.label_from_class_name(class_dir.name)
            if label is None:
                ignored.append(os.path.relpath(class_dir.path, root))
                continue
            found.append(_ClassFolder(class_dir.path, class_dir.name, fold, split, label))
    return found


def _entries(root: str, layout: str, class_folders: list[_ClassFolder], ignored: list[str]) -> DiscoveredDataset:
    """Walk the class folders. The layout's own folders are never entered a second time
    through a symlink, so an image cannot take another folder's label."""
    structural = {root} | {c.path for c in class_folders}
    structural |= {os.path.dirname(c.path) for c in class_folders}
    structural |= {os.path.dirname(os.path.dirname(c.path)) for c in class_folders}
    visited = {key for key in map(_dir_key, structural) if key is not None}
    prefix = root.rstrip(os.sep) + os.sep  # paths below are built by joining onto root
    entries, empty = [], []
    for c in class_folders:
        found = _images_below(c.path, visited)
        if not found:
            empty.append(printable(c.path[len(prefix):].replace(os.sep, "/")))
        entries.extend(
            ImageEntry(
                path=path,
                relpath=path[len(prefix):].replace(os.sep, "/"),
                fold=c.fold,
                split=c.split,
                class_name=c.name,
                label=c.label,
            )
            for path in found
        )
    folds = sorted({c.fold for c in class_folders if c.fold is not None})
    return DiscoveredDataset(root, layout, entries, [printable(name) for name in ignored], folds, empty)


def _has_split_dirs(folder: str) -> bool:
    return any(labels.split_from_name(d.name) for d in _subdirs(folder))


def discover(root: str | os.PathLike) -> DiscoveredDataset:
    """List the images of the dataset at ``root`` and recognise its layout.

    Raises DatasetLayoutError when root is not a folder or has neither layout.
    """
    root_str = os.path.abspath(os.fspath(root))
    if not os.path.exists(root_str):
        raise DatasetLayoutError(f"{printable(root_str)}: no such folder")
    if not os.path.isdir(root_str):
        raise DatasetLayoutError(f"{printable(root_str)}: not a folder")
    if undecodable(root_str):
        raise DatasetLayoutError(
            f"{printable(root_str)}: the folder's path is not valid UTF-8 text (an old Latin-1 name?); "
            "rename it (the images inside are fine)"
        )
    children = _subdirs(root_str)
    ignored: list[str] = []

    fold_dirs = [d for d in children if labels.fold_number(d.name) is not None and _has_split_dirs(d.path)]
    if fold_dirs:
        seen: dict[int, str] = {}
        for d in fold_dirs:
            number = labels.fold_number(d.name)
            if number in seen:
                raise DatasetLayoutError(
                    f"{root_str}: folders {printable(seen[number])!r} and {printable(d.name)!r} both name fold {number}"
                )
            seen[number] = d.name
        class_folders: list[_ClassFolder] = []
        for d in sorted(fold_dirs, key=lambda d: labels.fold_number(d.name)):
            class_folders.extend(_split_set(d.path, root_str, labels.fold_number(d.name), ignored))
        ignored.extend(d.name for d in children if d not in fold_dirs)
        return _entries(root_str, "folds", class_folders, ignored)

    if any(labels.split_from_name(d.name) for d in children):
        return _entries(root_str, "folds", _split_set(root_str, root_str, 1, ignored), ignored)

    class_dirs = [d for d in children if labels.label_from_class_name(d.name) is not None]
    if class_dirs:
        class_folders = [
            _ClassFolder(d.path, d.name, None, None, labels.label_from_class_name(d.name)) for d in class_dirs
        ]
        ignored.extend(d.name for d in children if d not in class_dirs)
        return _entries(root_str, "flat", class_folders, ignored)

    fold_like = [d.name for d in children if labels.fold_number(d.name) is not None]
    if fold_like:
        raise DatasetLayoutError(
            f"{printable(root_str)}: no images found in {', '.join(map(printable, fold_like[:10]))}: these fold "
            "folders hold no split folders (train, valid, test) with class folders of images"
        )
    found = ", ".join(repr(printable(d.name)) for d in children[:10]) or "no sub-folders"
    raise DatasetLayoutError(
        f"{printable(root_str)}: not a dataset folder (found {found}). Expected ROOT/<fold>/<split>/<class>/<image> "
        "(e.g. fold_1/train/abnormal/x.jpg) or ROOT/<class>/<image> with class folders named "
        "normal|healthy|negative|0 and abnormal|glaucoma|glaucomatous|positive|1"
    )
