"""Stratified k-fold cross-validation folders made from a flat dataset.

``make_folds(SRC, OUT, k=10)`` reads ``SRC/<class>/<image>`` and writes the paper's layout
``OUT/fold_01/{train,valid,test}/{normal,abnormal}/<image>`` (class folder names from
:data:`glaucoma_core.labels.CLASS_DIR_NAMES`), hard-linking each file where the file system
allows and copying it otherwise. Guarantees, for a given seed:

- every usable image is in exactly one fold's test split, and in train or valid of the others;
- positives (and negatives) are spread evenly over the test folds;
- each fold's validation split is carved from its training part, stratified by class
  (``valid_fraction`` of each class);
- exact duplicates (same sha256) always travel together, so no content crosses splits;
- with a groups CSV (patient, eye, source camera ...), a group never crosses splits either;
- the same inputs give the same folds.

Images with a problem (corrupt, truncated, ...) are not copied; they are returned with their
reason. The assignment is also written to ``OUT/fold_assignment.csv``.

Groups CSV format: a header row, then one row per image. The image column is the first of
``relpath, path, file, filename, image, name`` present; it holds either the path relative to
SRC (``abnormal/im_001.jpg``) or just the file name when names are unique. The group column is
the first of ``group, patient, patient_id, subject, source``. Images missing from the CSV are
groups of their own.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from glaucoma_core import labels
from glaucoma_core.data.index import scan_dataset, usable
from glaucoma_core.data.safe_files import UnsafeFileError, is_inside, read_user_text
from glaucoma_core.errors import UserError

FILE_COLUMNS = ("relpath", "path", "file", "filename", "image", "name")
GROUP_COLUMNS = ("group", "patient", "patient_id", "subject", "source")
ASSIGNMENT_FILE = "fold_assignment.csv"
FOLD_COLUMNS = ["fold", "split", "label", "source", "target", "sha256", "group", "problem"]
GROUPS_CSV_MAX_BYTES = 256 * 1024 * 1024  # a groups CSV of millions of rows stays far below


class FoldsError(UserError, ValueError):
    """Inputs that cannot make folds (wrong layout, too few images, bad groups CSV)."""


# --- grouping ------------------------------------------------------------------------------


def read_groups_csv(groups_csv: str | os.PathLike, index: pd.DataFrame) -> dict[str, str]:
    """Map each index relpath to its group name, from a CSV in the format described above."""
    path = Path(groups_csv)
    try:
        # The safe opener: a FIFO or /dev/zero is refused at once, a huge file is not read.
        text = read_user_text(path, max_bytes=GROUPS_CSV_MAX_BYTES)
    except UnsafeFileError as exc:
        raise FoldsError(f"cannot read groups CSV {exc}") from None
    try:
        with io.StringIO(text, newline="") as handle:
            reader = csv.DictReader(handle)
            fields = {name.strip().lower(): name for name in (reader.fieldnames or [])}
            file_col = next((fields[c] for c in FILE_COLUMNS if c in fields), None)
            group_col = next((fields[c] for c in GROUP_COLUMNS if c in fields), None)
            if file_col is None or group_col is None:
                raise FoldsError(
                    f"{path}: groups CSV needs a header with an image column ({', '.join(FILE_COLUMNS)}) "
                    f"and a group column ({', '.join(GROUP_COLUMNS)}); found {list(fields.values())}"
                )
            rows = [(str(row[file_col] or "").strip(), str(row[group_col] or "").strip()) for row in reader]
    except FoldsError:
        raise
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise FoldsError(f"{path}: cannot read groups CSV ({exc})") from None

    relpaths = list(index["relpath"])
    by_relpath = set(relpaths)
    names: dict[str, list[str]] = {}
    for relpath in relpaths:
        names.setdefault(relpath.rsplit("/", 1)[-1], []).append(relpath)
    groups: dict[str, str] = {}
    for name, group in rows:
        if not name or not group:
            continue
        name = name.replace("\\", "/")
        if name.startswith("./"):
            name = name[2:]
        if name in by_relpath:
            groups[name] = group
        elif name.rsplit("/", 1)[-1] in names:
            for relpath in names[name.rsplit("/", 1)[-1]]:
                groups[relpath] = group
    return groups


def _units(index: pd.DataFrame, groups: dict[str, str]) -> np.ndarray:
    """Unit number for each row: rows sharing content (sha256) or a group share a unit."""
    parent = list(range(len(index)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def union(i: int, j: int) -> None:
        a, b = find(i), find(j)
        if a != b:
            parent[max(a, b)] = min(a, b)

    first_of: dict[tuple[str, str], int] = {}
    for i, (relpath, sha) in enumerate(zip(index["relpath"], index["sha256"], strict=True)):
        for key in (("sha", sha), ("group", groups.get(relpath))):
            if key[1] is None:
                continue
            if key in first_of:
                union(i, first_of[key])
            else:
                first_of[key] = i
    return np.array([find(i) for i in range(len(index))], dtype=np.int64)


# --- assignment ----------------------------------------------------------------------------


def assign_test_folds(index: pd.DataFrame, units: np.ndarray, k: int, seed: int, strata=None) -> np.ndarray:
    """Test fold (1..k) of each row, whole units at a time, stratified by label (or by ``strata``).

    Units are taken largest first (ties in a seeded random order), each into the fold that has
    the fewest images of the unit's stratum so far (then fewest images overall). ``strata``: one
    value per row (e.g. source x class of a combined dataset); default the label.
    """
    rng = np.random.default_rng(seed)
    unit_ids = np.unique(units)
    sizes = {u: int((units == u).sum()) for u in unit_ids}
    codes = index["label"].to_numpy() if strata is None else np.unique(np.asarray(strata), return_inverse=True)[1]
    unit_label = {u: int(codes[units == u].max()) for u in unit_ids}
    order = rng.permutation(unit_ids)
    order = sorted(order, key=lambda u: (-unit_label[u], -sizes[u]))  # stable: random among equals
    per_label = np.zeros((max(2, int(np.max(codes)) + 1 if len(codes) else 2), k), dtype=np.int64)
    total = np.zeros(k, dtype=np.int64)
    fold_order = rng.permutation(k)  # seeded tie-break between equally full folds
    fold_of_unit: dict[int, int] = {}
    for u in order:
        label = unit_label[u]
        best = min(fold_order, key=lambda f: (per_label[label, f], total[f]))
        fold_of_unit[u] = int(best)
        per_label[label, best] += sizes[u]
        total[best] += sizes[u]
    return np.array([fold_of_unit[u] + 1 for u in units], dtype=np.int64)


def carve_validation(index: pd.DataFrame, units: np.ndarray, train_mask: np.ndarray,
                     valid_fraction: float, rng: np.random.Generator) -> np.ndarray:
    """Boolean mask of rows moved from the training part to validation, stratified by label.

    For each label, whole units (in seeded random order) are moved until the validation share
    reaches ``valid_fraction`` of that label's training images (at least one unit when the
    label has two or more units and valid_fraction > 0).
    """
    valid = np.zeros(len(index), dtype=bool)
    if valid_fraction <= 0:
        return valid
    label_values = index["label"].to_numpy()
    for label in (labels.NEGATIVE_LABEL, labels.POSITIVE_LABEL):
        rows = train_mask & (label_values == label)
        candidate_units = np.unique(units[rows])
        if len(candidate_units) == 0:
            continue
        target = round(valid_fraction * int(rows.sum()))
        if target == 0 and len(candidate_units) >= 2:
            target = 1
        taken = 0
        for u in rng.permutation(candidate_units):
            if taken >= target:
                break
            in_unit = train_mask & (units == u)
            size = int(in_unit.sum())
            if taken + size > target and taken > 0 and (taken + size - target) > (target - taken):
                continue  # this unit would overshoot more than it helps
            valid |= in_unit
            taken += size
    return valid


# --- writing -------------------------------------------------------------------------------


def _place(source: str, target: Path) -> str:
    """Hard-link source to target, else copy. Returns 'link' or 'copy'."""
    try:
        os.link(source, target)
        return "link"
    except OSError:
        shutil.copy2(source, target)
        return "copy"


def _unique_name(folder: Path, name: str, taken: set[str]) -> str:
    stem, suffix = os.path.splitext(name)
    candidate, n = name, 2
    while (folder / candidate).as_posix() in taken:
        candidate, n = f"{stem}__{n}{suffix}", n + 1
    taken.add((folder / candidate).as_posix())
    return candidate


def make_folds(
    source_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    k: int = 10,
    seed: int = 0,
    valid_fraction: float = 0.1,
    groups_csv: str | os.PathLike | None = None,
    home: str | os.PathLike | None = None,
    workers: int | None = None,
) -> pd.DataFrame:
    """Write k stratified cross-validation folds of the flat dataset at ``source_dir``.

    source_dir: ``SRC/<class>/<image>`` (class folders as in labels: normal, abnormal, ...).
    out_dir: new or empty folder; receives ``fold_01 .. fold_k`` and ``fold_assignment.csv``.
    k: number of folds (>= 2). seed: makes the assignment reproducible.
    valid_fraction: share of each fold's training images (per class) moved to ``valid``.
    groups_csv: optional CSV mapping images to groups that must not cross splits.
    home, workers: passed to :func:`scan_dataset` (scan cache location, threads).

    Returns one row per file written (fold, split, label, source path, target relpath,
    sha256, group, problem=''), plus one row per unusable source image (fold <NA>, split None,
    target '', problem = reason). Raises FoldsError for inputs that cannot make folds.
    """
    k = int(k)
    if k < 2:
        raise FoldsError(f"k must be at least 2 (got {k})")
    if not 0 <= valid_fraction < 1:
        raise FoldsError(f"valid fraction must be in [0, 1) (got {valid_fraction})")
    out = Path(os.path.abspath(Path(out_dir).expanduser()))
    _refuse_overlap(source_dir, out)  # before the scan: nothing is read or written when they overlap
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise FoldsError(f"{out}: output folder exists and is not empty")

    index = scan_dataset(source_dir, home=home, workers=workers)
    if index.attrs.get("layout") != "flat":
        raise FoldsError(
            f"{index.attrs.get('root', source_dir)}: folds are made from a flat dataset ROOT/<class>/<image>; "
            "this folder is already in the fold layout"
        )
    src_root = Path(index.attrs["root"])
    _refuse_overlap(src_root, out)
    bad = index[index["problem"] != ""]
    good = usable(index).reset_index(drop=True)
    groups = read_groups_csv(groups_csv, good) if groups_csv is not None else {}
    units = _units(good, groups)
    n_units = len(np.unique(units))
    if n_units < k:
        raise FoldsError(
            f"{src_root}: {len(good)} usable images in {n_units} independent units (duplicates/groups "
            f"kept together) cannot fill {k} folds"
        )

    test_fold = assign_test_folds(good, units, k, seed)
    rows: list[dict] = []
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        taken: set[str] = set()
        placed = {"link": 0, "copy": 0}
        for fold in range(1, k + 1):
            rng = np.random.default_rng([seed, fold])
            is_test = test_fold == fold
            is_valid = carve_validation(good, units, ~is_test, valid_fraction, rng)
            fold_name = f"fold_{fold:0{max(2, len(str(k)))}d}"
            for split in labels.SPLITS:
                for class_dir in labels.CLASS_DIR_NAMES.values():
                    (staging / fold_name / split / class_dir).mkdir(parents=True, exist_ok=True)
            for i, row in enumerate(good.itertuples(index=False)):
                split = "test" if is_test[i] else "valid" if is_valid[i] else "train"
                folder = Path(fold_name) / split / labels.CLASS_DIR_NAMES[int(row.label)]
                name = _unique_name(folder, os.path.basename(row.path), taken)
                how = _place(row.path, staging / folder / name)
                placed[how] += 1
                rows.append({
                    "fold": fold, "split": split, "label": int(row.label), "source": row.path,
                    "target": (folder / name).as_posix(), "sha256": row.sha256,
                    "group": groups.get(row.relpath, ""), "problem": "",
                })
        result = pd.DataFrame(rows, columns=FOLD_COLUMNS)
        bad_rows = pd.DataFrame({
            "fold": pd.NA, "split": None, "label": bad["label"].astype(int), "source": bad["path"],
            "target": "", "sha256": bad["sha256"], "group": "", "problem": bad["problem"],
        }, columns=FOLD_COLUMNS)
        if len(bad_rows):
            result = pd.concat([result, bad_rows], ignore_index=True)
        result["fold"] = result["fold"].astype("Int64")
        _write_assignment(staging / ASSIGNMENT_FILE, good, test_fold, groups, src_root)
        if out.exists():
            out.rmdir()  # empty (checked above)
        os.replace(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    result.attrs.update(root=str(out), source=str(src_root), k=k, seed=seed, valid_fraction=valid_fraction,
                        hard_links=placed["link"], copies=placed["copy"])
    return result


def _refuse_overlap(source_dir: str | os.PathLike, out: Path) -> None:
    """Refuse an OUT inside SRC (the copies would be scanned as source images next time, under
    the wrong class) and an SRC inside OUT, comparing real paths: a symlink to either side, a
    ``..`` or a symlinked parent of OUT cannot hide the overlap."""
    source = Path(os.path.abspath(Path(source_dir).expanduser()))
    if is_inside(out, source):
        raise FoldsError(
            f"{out}: the output folder must not be inside the source folder {os.path.realpath(source)} "
            "(the fold copies would become source images)"
        )
    if is_inside(source, out):
        raise FoldsError(f"{out}: the output folder must not contain the source folder {os.path.realpath(source)}")


def _write_assignment(path: Path, good: pd.DataFrame, test_fold: np.ndarray, groups: dict[str, str],
                      src_root: Path) -> None:
    table = pd.DataFrame({
        "relpath": good["relpath"], "label": good["label"], "sha256": good["sha256"],
        "group": [groups.get(r, "") for r in good["relpath"]], "test_fold": test_fold,
    })
    table.to_csv(path, index=False)
