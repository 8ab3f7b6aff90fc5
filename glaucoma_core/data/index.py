"""The dataset index: one pandas DataFrame row per image file of a dataset folder.

Columns (see :data:`INDEX_COLUMNS`):
    path (absolute str), relpath (posix str relative to the root), fold (Int64, <NA> in a flat
    layout), split ('train'|'valid'|'test', None in a flat layout), label (int, 1 = glaucoma),
    class_name (folder name as on disk), width, height (Int64, after EXIF orientation),
    mode (the file's PIL mode), bytes (int), sha256 (hex str, '' when unreadable),
    problem (str, '' when the image is usable, else the reason), source (str: the database the
    image comes from, as ``ROOT/sources.csv`` names it (columns relpath, source; written by the
    ``source-folds`` command for a combined dataset), '' when it names none).
``df.attrs``: layout ('folds' | 'flat'), root, ignored (folders outside the layout),
layout_folds (fold numbers whose folders exist, with images or not), empty_folders (class
folders holding no image file), cache_hits, decoded (images actually decoded), seconds.

A file whose name is not valid UTF-8 (a Latin-1 name) is listed under an escaped name
(``caf\\xe9.jpg``) with a problem, never opened; the other files are used.

Every image is checked completely (all pixels decoded), in parallel threads. Work is shared:
hard links of one file (same device and inode, as in the demo dataset where one image sits in
ten folds) are read once, and identical content (same sha256) is decoded once. Results are
cached by path + mtime + size (:mod:`glaucoma_core.data.scan_cache`), so rescanning an
unchanged folder decodes nothing.
"""

from __future__ import annotations

import hashlib
import os
import stat
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

import pandas as pd

from glaucoma_core import labels, paths
from glaucoma_core.data.images import (
    MAX_FILE_BYTES,
    MAX_PIXELS,
    ImageProblem,
    inspect_image,
    read_image_bytes,
)
from glaucoma_core.data.layout import DatasetLayoutError, ImageEntry, discover, printable, undecodable
from glaucoma_core.data.safe_files import is_inside
from glaucoma_core.data.scan_cache import CachedFile, ScanCache

__all__ = [
    "INDEX_COLUMNS",
    "DatasetLayoutError",
    "scan_dataset",
    "usable",
    "find_duplicates",
    "find_leaks",
    "dataset_fingerprint",
    "fold_numbers",
    "empty_index",
    "missing_images",
]

INDEX_COLUMNS = [
    "path", "relpath", "fold", "split", "label", "class_name",
    "width", "height", "mode", "bytes", "sha256", "problem", "source",
]
SOURCES_FILE = "sources.csv"
SOURCES_MAX_BYTES = 64 * 1024 * 1024
_SPLIT_ORDER = {name: i for i, name in enumerate(labels.SPLITS)}
CACHE_FILE_NAME = "scan_cache.sqlite"
UNDECODABLE_NAME = "file name is not valid UTF-8 (a Latin-1 name?): listed under an escaped name; rename it to use it"


# --- checking one file ---------------------------------------------------------------------


class _Checker:
    """Checks files once per inode and decodes once per sha256; safe to call from threads."""

    def __init__(self, max_pixels: int):
        self.max_pixels = max_pixels
        self._by_content: dict[str, Future] = {}
        self._lock = threading.Lock()
        self.decoded = 0

    def check(self, path: str, size: int, mtime_ns: int) -> CachedFile:
        try:
            data = read_image_bytes(path)
        except ImageProblem as exc:
            return CachedFile(size, mtime_ns, "", None, None, "", exc.reason)
        sha = hashlib.sha256(data).hexdigest()
        with self._lock:
            pending = self._by_content.get(sha)
            owner = pending is None
            if owner:  # first thread to see this content decodes it; others wait for its answer
                pending = self._by_content[sha] = Future()
        if owner:
            try:
                info = inspect_image(data, max_pixels=self.max_pixels)
                pending.set_result((info.width, info.height, info.mode, info.problem))
            except BaseException as exc:
                pending.set_exception(exc)
                raise
            with self._lock:
                self.decoded += 1
        known = pending.result()
        return CachedFile(size, mtime_ns, sha, *known)


def _stat_problem(exc: OSError) -> str:
    import errno

    if exc.errno == errno.ELOOP:
        return "symlink loop"
    if exc.errno == errno.ENOENT:
        return "broken symlink (target missing)"
    return f"unreadable file: {exc.strerror or exc}"


# --- scanning ------------------------------------------------------------------------------


def empty_index(layout: str = "flat", root: str = "") -> pd.DataFrame:
    """An index with no rows and the right columns."""
    return _frame([], [], layout, root)


def scan_dataset(
    root: str | os.PathLike,
    *,
    workers: int | None = None,
    use_cache: bool = True,
    home: str | os.PathLike | None = None,
    max_pixels: int = MAX_PIXELS,
    progress: Callable[[int, int], None] | None = None,
    allowed_root: str | os.PathLike | None = None,
) -> pd.DataFrame:
    """Index every image of the dataset at ``root``; broken files become rows with a problem.

    root: dataset folder (fold layout or flat layout, see :mod:`glaucoma_core.data.layout`).
    workers: threads that read and decode (default: min(8, CPU count)).
    use_cache: reuse and update the scan cache under ``paths.cache_dir(home)``.
    home: workbench home (default $GLAUCOMA_HOME or models/).
    max_pixels: decompression-bomb limit passed to the image checks.
    progress: called as progress(done, total) while files are checked.
    allowed_root: when given (e.g. the app's $GLAUCOMA_DATA_ROOT), files whose real path (symlinks
        followed) lies outside it are not read; their row says "outside the allowed data root".
        Default: $GLAUCOMA_DATA_ROOT when it is set and ``root`` lies inside it (so training
        jobs started from a confined app are confined too); else no confinement.

    Raises DatasetLayoutError (a ValueError) when root is missing or not a dataset folder;
    never raises for a bad image.
    """
    started = time.perf_counter()
    found = discover(root)
    entries = found.entries

    # per file only what the checks need (size, mtime_ns, device, inode), not a stat_result:
    # a 1,000,000-file dataset keeps a million of these while it is scanned
    stats: list[tuple[int, int, int, int] | None] = []
    results: list[CachedFile | None] = []
    if allowed_root is None:
        allowed_root = _default_allowed_root(root)
    confine = os.path.realpath(allowed_root) if allowed_root is not None else None
    for entry in entries:
        if undecodable(entry.path):  # listed under an escaped name, never opened
            stats.append(None)
            results.append(CachedFile(0, 0, "", None, None, "", UNDECODABLE_NAME))
            continue
        if confine is not None and not is_inside(entry.path, confine):
            stats.append(None)
            results.append(CachedFile(0, 0, "", None, None, "", f"outside the allowed data root {confine}"))
            continue
        try:
            st = os.stat(entry.path)
        except OSError as exc:
            stats.append(None)
            results.append(CachedFile(0, 0, "", None, None, "", _stat_problem(exc)))
            continue
        stats.append((st.st_size, st.st_mtime_ns, st.st_dev, st.st_ino))
        if not stat.S_ISREG(st.st_mode):
            results.append(CachedFile(st.st_size, st.st_mtime_ns, "", None, None, "", "not a regular file"))
        elif st.st_size == 0:
            results.append(CachedFile(0, st.st_mtime_ns, "", None, None, "", "empty file (0 bytes)"))
        elif st.st_size > MAX_FILE_BYTES:
            results.append(CachedFile(st.st_size, st.st_mtime_ns, "", None, None, "",
                                      f"file too large: {st.st_size:,} bytes"))
        else:
            results.append(None)

    cache = _open_cache(home, max_pixels) if use_cache else None
    cache_hits = 0
    if cache is not None:
        try:
            cached = cache.entries_under(found.root)
        except Exception:  # noqa: BLE001 - a broken cache only costs time
            cached = {}
        for i, entry in enumerate(entries):
            hit = cached.get(entry.path)
            st = stats[i]
            if results[i] is None and hit and hit.size == st[0] and hit.mtime_ns == st[1]:
                results[i] = hit
                cache_hits += 1
        del cached  # the entries not used (a folder's other files) need not stay for the rest

    # One check per inode: hard links share the work.
    todo: dict[tuple[int, ...], list[int]] = {}
    for i, result in enumerate(results):
        if result is None:
            todo.setdefault(stats[i][2:], []).append(i)
    checker = _Checker(max_pixels)
    if todo:
        n_workers = workers or min(8, os.cpu_count() or 1)
        groups = list(todo.values())

        def run(group: list[int]) -> tuple[list[int], CachedFile]:
            first = group[0]
            return group, checker.check(entries[first].path, stats[first][0], stats[first][1])

        with ThreadPoolExecutor(max_workers=max(1, n_workers)) as pool:
            for done, (group, result) in enumerate(pool.map(run, groups), start=1):
                for i in group:
                    results[i] = result
                if progress is not None:
                    progress(done, len(groups))
        if cache is not None:
            _store(cache, [(entries[i].path, results[i]) for group in groups for i in group], found.root,
                   {e.path for e in entries})
    if cache is not None:
        cache.close()

    index = _frame(entries, results, found.layout, found.root)
    index["source"] = read_sources(found.root, index["relpath"])
    index.attrs.update(
        ignored=list(found.ignored),
        layout_folds=list(found.folds),
        empty_folders=list(found.empty),
        cache_hits=cache_hits,
        decoded=checker.decoded,
        seconds=round(time.perf_counter() - started, 3),
    )
    return index


def _default_allowed_root(root: str | os.PathLike) -> str | None:
    """$GLAUCOMA_DATA_ROOT (resolved) when set and ``root`` lies inside it, else None."""
    from glaucoma_core.data.access import data_root

    allowed = data_root()
    return str(allowed) if allowed is not None and is_inside(root, allowed) else None


def _open_cache(home, max_pixels: int) -> ScanCache | None:
    try:
        return ScanCache(paths.cache_dir(home) / CACHE_FILE_NAME, checker=f"max_pixels={max_pixels}")
    except Exception:  # noqa: BLE001 - no cache is slower, not wrong
        return None


def _store(cache: ScanCache, rows, root: str, keep: set[str]) -> None:
    try:
        cache.store(rows)
        cache.forget_except(root, keep)
        cache.prune_missing()
    except Exception:  # noqa: BLE001
        pass


def _frame(entries: list[ImageEntry], results: list[CachedFile], layout: str, root: str) -> pd.DataFrame:
    if len(entries) != len(results):
        raise ValueError(f"{len(entries)} entries but {len(results)} results")
    # built column by column (one list per column, not one dict per file: a tenth of the
    # transient memory at 100,000 files)
    columns = {
        "path": [printable(e.path) for e in entries],
        "relpath": [printable(e.relpath) for e in entries],
        "fold": [e.fold for e in entries],
        "split": [e.split for e in entries],
        "label": [int(e.label) for e in entries],
        "class_name": [e.class_name for e in entries],
        "width": [r.width for r in results],
        "height": [r.height for r in results],
        "mode": [r.mode for r in results],
        "bytes": [int(r.size) for r in results],
        "sha256": [r.sha256 for r in results],
        "problem": [r.problem for r in results],
        "source": [""] * len(entries),
    }
    df = pd.DataFrame(columns, columns=INDEX_COLUMNS)
    df["fold"] = df["fold"].astype("Int64")
    df["split"] = df["split"].astype(object).where(df["split"].notna(), None)
    for column in ("label", "bytes"):
        df[column] = df[column].astype("int64")
    for column in ("width", "height"):
        df[column] = df[column].astype("Int64")
    if len(df):
        order = df["split"].map(lambda s: _SPLIT_ORDER.get(s, -1))
        df = (
            df.assign(_fold=df["fold"].fillna(0), _split=order)
            .sort_values(["_fold", "_split", "label", "relpath"], kind="stable")
            .drop(columns=["_fold", "_split"])
            .reset_index(drop=True)
        )
    df.attrs["layout"] = layout
    df.attrs["root"] = root
    return df


def read_sources(root: str | os.PathLike, relpaths) -> list[str]:
    """The source of each relpath as ``ROOT/sources.csv`` (columns relpath, source) names it; ''
    for a relpath it does not name, or for all when the file is missing or unreadable."""
    import csv
    import io

    from glaucoma_core.data.safe_files import UnsafeFileError, read_user_text

    path = os.path.join(os.fspath(root), SOURCES_FILE)
    relpaths = list(relpaths)
    if not os.path.isfile(path):
        return [""] * len(relpaths)
    try:
        rows = csv.DictReader(io.StringIO(read_user_text(path, max_bytes=SOURCES_MAX_BYTES), newline=""))
        mapping = {str(r.get("relpath") or ""): str(r.get("source") or "") for r in rows}
    except (UnsafeFileError, OSError, csv.Error):
        return [""] * len(relpaths)
    return [mapping.get(r, "") for r in relpaths]


# --- questions about an index --------------------------------------------------------------


def usable(index: pd.DataFrame) -> pd.DataFrame:
    """Rows whose image can be used (problem == '')."""
    return index[index["problem"] == ""]


def fold_numbers(index: pd.DataFrame) -> list[int]:
    """Sorted fold numbers present in the index ([] for a flat layout)."""
    return sorted(int(f) for f in index["fold"].dropna().unique())


def missing_images(index: pd.DataFrame, folds=None) -> str | None:
    """What is missing when (some of) a dataset has no image, in words, else None.

    ``folds``: the fold numbers about to be used (default: every fold folder on disk). Says
    "no images found in ROOT (...)" when the index has no usable image at all, and names the
    fold folders found on disk that hold no image (they are not in :func:`fold_numbers`: a
    cross-validation over "all folds" would silently skip them).
    """
    root = index.attrs.get("root", "the dataset")
    empty = list(index.attrs.get("empty_folders", []))
    shown = ", ".join(empty[:6]) + (" ..." if len(empty) > 6 else "")
    if usable(index).empty:
        where = f" ({shown} hold no image files)" if empty else ""
        return f"no images found in {root}{where}"
    on_disk = [int(f) for f in index.attrs.get("layout_folds", [])]
    wanted = on_disk if folds is None else [int(f) for f in folds if f is not None]
    lacking = [f for f in wanted if f in on_disk and f not in fold_numbers(usable(index))]
    if lacking:
        return f"no images found in fold(s) {', '.join(map(str, lacking))} of {root}" + (
            f" ({shown} hold no image files)" if empty else "")
    return None


def find_duplicates(index: pd.DataFrame) -> pd.DataFrame:
    """Identical usable images (same sha256) at more than one path of the same fold.

    In the fold layout one image normally appears once per fold (test in one, train/valid in
    the others), so duplicates are counted within a fold; a flat layout is one group.
    Columns: fold (Int64), sha256, n, paths (list of relpaths), labels (list), label_conflict
    (True when the copies carry different labels).
    """
    columns = ["fold", "sha256", "n", "paths", "labels", "label_conflict"]
    good = usable(index)
    good = good[good["sha256"] != ""]
    rows = []
    for (fold, sha), group in good.groupby(["fold", "sha256"], dropna=False, sort=True):
        if len(group) > 1:
            labels_ = [int(x) for x in group["label"]]
            rows.append({
                "fold": fold, "sha256": sha, "n": len(group), "paths": list(group["relpath"]),
                "labels": labels_, "label_conflict": len(set(labels_)) > 1,
            })
    out = pd.DataFrame(rows, columns=columns)
    out["fold"] = out["fold"].astype("Int64")
    return out


def find_leaks(index: pd.DataFrame) -> pd.DataFrame:
    """Same content (sha256) in the test split and in the train or valid split of one fold.

    Columns: fold (int), sha256, splits (sorted list of the splits it is in), paths (list).
    Empty for a flat layout.
    """
    columns = ["fold", "sha256", "splits", "paths"]
    good = usable(index)
    good = good[(good["sha256"] != "") & good["fold"].notna() & good["split"].notna()]
    rows = []
    for (fold, sha), group in good.groupby(["fold", "sha256"], sort=True):
        splits = set(group["split"])
        if "test" in splits and splits & {"train", "valid"}:
            rows.append({
                "fold": int(fold), "sha256": sha,
                "splits": sorted(splits, key=_SPLIT_ORDER.get), "paths": list(group["relpath"]),
            })
    return pd.DataFrame(rows, columns=columns)


def dataset_fingerprint(index: pd.DataFrame) -> str:
    """A sha256 hex digest of what the index says (relpath, content, label, fold, split, problem).

    Equal for two scans of an unchanged dataset, different when any image, label or split
    assignment changes; independent of where the dataset folder is.
    """
    digest = hashlib.sha256()
    columns = ["relpath", "sha256", "label", "fold", "split", "problem"]
    lines = sorted(
        "\t".join("" if pd.isna(value) else str(value) for value in row)
        for row in index[columns].itertuples(index=False, name=None)
    )
    for line in lines:
        digest.update(line.encode("utf-8", "surrogateescape"))
        digest.update(b"\n")
    return digest.hexdigest()
