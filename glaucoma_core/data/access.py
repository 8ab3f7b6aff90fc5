"""Which dataset folders may be opened: everything, or only what lies inside a data root.

When ``$GLAUCOMA_DATA_ROOT`` is set (or an ``allowed_root`` is given), folder names typed into
the app are resolved inside it and nothing outside can be opened: no ``..`` components, no
absolute paths elsewhere, no symlink that leads out.
"""

from __future__ import annotations

import os
from pathlib import Path

from glaucoma_core.data.layout import printable
from glaucoma_core.errors import UserError

DATA_ROOT_ENV = "GLAUCOMA_DATA_ROOT"


class UserFacingError(UserError):
    """A folder the user asked for cannot be opened; the message says which and why."""


def data_root() -> Path | None:
    """The configured data root ($GLAUCOMA_DATA_ROOT, resolved), or None when unrestricted."""
    value = os.environ.get(DATA_ROOT_ENV, "").strip()
    return Path(value).expanduser().resolve() if value else None


def resolve_data_folder(candidate: str | os.PathLike, allowed_root: str | os.PathLike | None = None) -> Path:
    """The existing folder ``candidate`` names, resolved (symlinks followed).

    candidate: a folder path; relative paths are taken inside the allowed root (or the
        current directory when there is none). '' means the allowed root itself.
    allowed_root: folder everything must stay inside; default $GLAUCOMA_DATA_ROOT; when
        neither is set, any existing folder is accepted.

    Raises UserFacingError for a '..' component, a path (absolute or through a symlink) that
    ends outside the allowed root, or a folder that does not exist.
    """
    text = os.fspath(candidate) if candidate is not None else ""
    if isinstance(text, bytes):
        text = os.fsdecode(text)
    if "\x00" in text:
        raise UserFacingError("folder name contains a NUL character")
    shown = printable(text)  # a Latin-1 name is shown escaped (printing it raw would crash)
    root = Path(allowed_root).expanduser().resolve() if allowed_root is not None else data_root()

    if root is None:
        if not text.strip():
            raise UserFacingError("no folder given")
        resolved = Path(text).expanduser().resolve()
    else:
        path = Path(text.strip()) if text.strip() else Path()
        if ".." in path.parts:
            raise UserFacingError(f"{shown}: '..' is not allowed in folder names (data root is {root})")
        resolved = (path if path.is_absolute() else root / path).resolve()
        if resolved != root and root not in resolved.parents:
            raise UserFacingError(f"{shown}: outside the allowed data root {root}")

    if not resolved.exists():
        raise UserFacingError(f"{shown}: no such folder")
    if not resolved.is_dir():
        raise UserFacingError(f"{shown}: not a folder")
    return resolved
