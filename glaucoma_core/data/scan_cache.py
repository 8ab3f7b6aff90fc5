"""Scan cache: what a full check of an image file found, keyed by path + mtime + size.

A small SQLite file under ``paths.cache_dir(home)``, so that rescanning an unchanged folder
reads no image at all. The cache is an optimisation only: when it cannot be opened or written
(read-only home, corrupt file, locked too long) the scan goes on without it.

Paths are stored as bytes (``os.fsencode``) so that any file name, even one that is not valid
UTF-8, is a valid key.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

# Bump when the checks in images.py change what they report, so old entries are ignored.
SCAN_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS scanned_files (
    path BLOB PRIMARY KEY,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    checker TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    width INTEGER,
    height INTEGER,
    mode TEXT NOT NULL,
    problem TEXT NOT NULL
)
"""


@dataclass(frozen=True)
class CachedFile:
    """One cached result. size and mtime_ns are the file's stat at the time it was checked."""

    size: int
    mtime_ns: int
    sha256: str
    width: int | None
    height: int | None
    mode: str
    problem: str


class ScanCache:
    """Cached file checks in ``db_path``; ``checker`` names the rules the entries were made with."""

    def __init__(self, db_path: str | os.PathLike, checker: str):
        self.db_path = Path(db_path)
        self.checker = f"v{SCAN_VERSION}:{checker}"
        self._conn = sqlite3.connect(self.db_path, timeout=10)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute(_SCHEMA)
        self._conn.commit()

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> ScanCache:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def entries_under(self, folder: str) -> dict[str, CachedFile]:
        """All entries made by this checker for files below ``folder`` (an absolute path)."""
        low, high = _prefix_range(folder)
        rows = self._conn.execute(
            "SELECT path, size, mtime_ns, sha256, width, height, mode, problem FROM scanned_files "
            "WHERE path >= ? AND path < ? AND checker = ?",
            (low, high, self.checker),
        )
        return {os.fsdecode(row[0]): CachedFile(*row[1:]) for row in rows}

    def store(self, entries: Iterable[tuple[str, CachedFile]]) -> None:
        """Insert or replace entries ``(path, CachedFile)`` in one transaction."""
        with self._conn:
            self._conn.executemany(
                "INSERT OR REPLACE INTO scanned_files "
                "(path, size, mtime_ns, checker, sha256, width, height, mode, problem) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (os.fsencode(path), e.size, e.mtime_ns, self.checker, e.sha256, e.width, e.height, e.mode, e.problem)
                    for path, e in entries
                ],
            )

    def forget_except(self, folder: str, keep: set[str]) -> int:
        """Delete entries below ``folder`` whose path is not in ``keep`` (files gone). Returns count."""
        low, high = _prefix_range(folder)
        stale = [
            row[0]
            for row in self._conn.execute(
                "SELECT path FROM scanned_files WHERE path >= ? AND path < ?", (low, high)
            )
            if os.fsdecode(row[0]) not in keep
        ]
        if stale:
            with self._conn:
                self._conn.executemany("DELETE FROM scanned_files WHERE path = ?", [(p,) for p in stale])
        return len(stale)


    def prune_missing(self, max_rows: int = 200_000) -> int:
        """When the cache holds more than ``max_rows`` entries, drop those whose file is gone
        (temporary folders, deleted datasets). Returns the number removed."""
        (count,) = self._conn.execute("SELECT COUNT(*) FROM scanned_files").fetchone()
        if count <= max_rows:
            return 0
        gone = [(p,) for (p,) in self._conn.execute("SELECT path FROM scanned_files") if not os.path.lexists(p)]
        with self._conn:
            self._conn.executemany("DELETE FROM scanned_files WHERE path = ?", gone)
        return len(gone)


def _prefix_range(folder: str) -> tuple[bytes, bytes]:
    """Byte range [low, high) that holds exactly the paths below ``folder``."""
    prefix = os.fsencode(folder.rstrip(os.sep) + os.sep)
    return prefix, prefix[:-1] + bytes([prefix[-1] + 1])
