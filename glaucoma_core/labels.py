"""The one label mapping of the project: glaucoma is the positive class, index 1.

Folder names never decide the label by their alphabetical order (Keras'
``flow_from_directory`` would make ``abnormal`` = 0); every place that turns a class
folder into a label goes through :func:`label_from_class_name`.
"""

from __future__ import annotations

import re

NEGATIVE_LABEL = 0
POSITIVE_LABEL = 1
CLASS_NAMES = {NEGATIVE_LABEL: "normal", POSITIVE_LABEL: "glaucoma"}
# Folder names used when we write a dataset (the paper's layout).
CLASS_DIR_NAMES = {NEGATIVE_LABEL: "normal", POSITIVE_LABEL: "abnormal"}

_CLASS_ALIASES = {
    "abnormal": POSITIVE_LABEL,
    "glaucoma": POSITIVE_LABEL,
    "glaucomatous": POSITIVE_LABEL,
    "positive": POSITIVE_LABEL,
    "1": POSITIVE_LABEL,
    "normal": NEGATIVE_LABEL,
    "healthy": NEGATIVE_LABEL,
    "negative": NEGATIVE_LABEL,
    "0": NEGATIVE_LABEL,
}

SPLITS = ("train", "valid", "test")
_SPLIT_ALIASES = {
    "train": "train",
    "training": "train",
    "valid": "valid",
    "validation": "valid",
    "val": "valid",
    "test": "test",
    "testing": "test",
}


def label_from_class_name(name: str) -> int | None:
    """Label of a class folder name (case-insensitive), or None when it is not a class."""
    return _CLASS_ALIASES.get(name.strip().lower())


def split_from_name(name: str) -> str | None:
    """Canonical split ('train', 'valid', 'test') of a folder name, or None."""
    return _SPLIT_ALIASES.get(name.strip().lower())


def fold_number(name: str) -> int | None:
    """Number of a fold folder: 'fold_1', 'Fold1', '1', 'CV_01', 'fold-10' -> int; else None.

    A fold folder name is an optional alphabetic prefix, optional separator, and digits.
    """
    match = re.fullmatch(r"(?:[A-Za-z]+[ _\-]?)?0*(\d+)", name.strip())
    return int(match.group(1)) if match else None


def class_name(label: int) -> str:
    """Human name of a label: 0 -> 'normal', 1 -> 'glaucoma'."""
    return CLASS_NAMES[int(label)]
