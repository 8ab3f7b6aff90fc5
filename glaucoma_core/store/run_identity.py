"""A run's identity file: what ties the files of ``runs/<id>/`` to one run of one store.

``runs/<id>/run.json`` holds the store's random id (``store_info.store_uuid``), the run id, the
run's random id (``runs.uuid``) and its creation time. It is written when the run's folder is
first used for its model, and checked before a model is served: a folder left behind by
another store (a ``runs.sqlite`` emptied, replaced or restored from an older backup while the
folders stayed) is never served as this run's model.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

IDENTITY_FILE_NAME = "run.json"
_MAX_BYTES = 64 * 1024


@dataclass(frozen=True)
class RunIdentity:
    """store: the store's uuid; run_id: the run's id in it; run_uuid: the run's own uuid;
    created_at: the run's creation time (Unix seconds); model_sha256: the sha256 of the model
    file as saved (None until a model is saved), so a model file copied over it is noticed."""

    store: str
    run_id: int
    run_uuid: str
    created_at: float
    model_sha256: str | None = None

    def same_run(self, other: RunIdentity) -> bool:
        return (self.store, self.run_id, self.run_uuid) == (other.store, other.run_id, other.run_uuid)

    def describe(self) -> str:
        return f"run {self.run_id} of store {self.store[:8]} (run uuid {self.run_uuid[:8]})"


def new_run_uuid() -> str:
    return uuid.uuid4().hex


def identity_path(run_dir: str | os.PathLike) -> Path:
    return Path(run_dir) / IDENTITY_FILE_NAME


def read_identity(run_dir: str | os.PathLike) -> RunIdentity | None:
    """The identity in ``run_dir`` (None when there is no identity file).

    Raises ValueError when the file exists but is not a valid identity (unreadable, damaged,
    not a regular file): a damaged identity proves nothing.
    """
    path = identity_path(run_dir)
    if not os.path.lexists(path):
        return None
    from glaucoma_core.data.safe_files import read_user_text

    try:
        data = json.loads(read_user_text(path, max_bytes=_MAX_BYTES))
        sha = data.get("model_sha256")
        return RunIdentity(str(data["store"]), int(data["run_id"]), str(data["run_uuid"]), float(data["created_at"]),
                           None if sha is None else str(sha))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{path}: damaged run identity file ({exc})") from None


def write_identity(run_dir: str | os.PathLike, identity: RunIdentity) -> Path:
    """Write ``identity`` into ``run_dir`` atomically (temporary file, fsync, rename)."""
    folder = Path(run_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = identity_path(folder)
    tmp = folder / f".{IDENTITY_FILE_NAME}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump(asdict(identity), handle, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise
    return path


def file_sha256(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's content."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()
