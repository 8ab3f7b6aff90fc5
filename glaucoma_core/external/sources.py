"""Combined databases: the source of each image, and leave-one-source-out folds.

A combined dataset pools several databases. Its source per image comes from either

* a merged tree ``ROOT/<source>/<class>/<image>`` (each top-level folder is one flat database), or
* a flat ``ROOT/<class>/<image>`` with a CSV ``file,source`` (the format of the groups CSV of
  :mod:`glaucoma_core.data.folds`: the image column may hold the relpath or the file name).

:func:`make_source_folds` writes a fold layout from it: **leave-one-source-out** (fold k tests
on every image of source k and trains and validates on the other sources; the default), or k
folds stratified by source x class. Beside the folds it writes ``sources.csv`` (relpath in
the fold layout, source), which every scan reads back into the index's ``source`` column, and
``fold_sources.csv`` (fold, held-out source) for the per-source table of a leave-one-source-out
experiment (:func:`per_source_table`).

Realised as a fold layout (rather than a virtual assignment) so that every existing part
(scan, cv, evaluate, compare, the pages) works on it unchanged and the folds can be inspected on
disk; exact duplicates never cross train and test: a file also present in the held-out source is
left out of that fold's training sources.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from glaucoma_core import labels
from glaucoma_core.data.index import SOURCES_FILE  # read back by every scan into the index
from glaucoma_core.errors import UserError

FOLD_SOURCES_FILE = "fold_sources.csv"


class SourcesError(UserError, ValueError):
    """A combined dataset whose sources cannot be read or used."""


def scan_combined(root: str | os.PathLike, *, sources_csv: str | os.PathLike | None = None,
                  home: str | os.PathLike | None = None) -> pd.DataFrame:
    """The index of a combined flat dataset with a ``source`` column (see the module docstring).

    Raises SourcesError when ``root`` is neither a merged tree nor a flat dataset with a CSV, or
    when the CSV leaves images without a source.
    """
    from glaucoma_core.data.folds import read_groups_csv
    from glaucoma_core.data.index import DatasetLayoutError, scan_dataset

    root = Path(root).expanduser().resolve()
    if not root.is_dir():
        raise SourcesError(f"{root}: no such folder")
    if sources_csv is not None:
        try:
            index = scan_dataset(root, home=home)
        except DatasetLayoutError as exc:
            raise SourcesError(str(exc)) from None
        if index.attrs.get("layout") != "flat":
            raise SourcesError(f"{root}: a combined dataset with a sources CSV must be flat (ROOT/<class>/<image>)")
        found = read_groups_csv(sources_csv, index)
        missing = [r for r in index["relpath"] if r not in found]
        if missing:
            raise SourcesError(f"{sources_csv}: {len(missing)} image(s) have no source, e.g. {missing[0]}")
        return index.assign(source=[found[r] for r in index["relpath"]])
    parts = []
    for child in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if labels.label_from_class_name(child.name) is not None:
            raise SourcesError(f"{root}: {child.name!r} is a class folder; a flat dataset needs a sources CSV "
                               "(file,source), or arrange it as ROOT/<source>/<class>/<image>")
        try:
            part = scan_dataset(child, home=home)
        except DatasetLayoutError as exc:
            raise SourcesError(f"{child}: not a flat database ({exc})") from None
        if part.attrs.get("layout") != "flat":
            raise SourcesError(f"{child}: source folders must be flat (<class>/<image>), this one has folds")
        parts.append(part.assign(relpath=child.name + "/" + part["relpath"], source=child.name))
    if len(parts) < 2:
        raise SourcesError(f"{root}: a combined dataset needs at least two source folders "
                           "(ROOT/<source>/<class>/<image>), found {len(parts)}")
    index = pd.concat(parts, ignore_index=True)
    index.attrs.update(layout="flat", root=str(root))
    return index


def make_source_folds(src: str | os.PathLike, out: str | os.PathLike, *, sources_csv=None,
                      leave_one_out: bool = True, k: int = 10, valid_fraction: float = 0.1, seed: int = 0,
                      home=None) -> dict:
    """Write the fold layout of a combined dataset.

    Args:
        src: the combined dataset (merged tree, or flat with ``sources_csv``).
        out: new or empty output folder.
        sources_csv: CSV file,source for a flat ``src``.
        leave_one_out: True: one fold per source, testing on it; False: ``k`` folds stratified
            by source x class.
        k: folds when not leave_one_out.
        valid_fraction: share of each fold's training images (per class) moved to ``valid``.
        seed: makes the assignment reproducible.
        home: workbench home (scan cache).

    Returns {out, sources: {source: images}, folds: [{fold, source, train, valid, test}],
    left_out_duplicates (training copies of held-out images dropped), unusable}.
    """
    from glaucoma_core.data.folds import _place, _unique_name, _units, assign_test_folds, carve_validation
    from glaucoma_core.data.index import usable

    if not 0 <= valid_fraction < 1:
        raise SourcesError(f"valid fraction must be in [0, 1), got {valid_fraction}")
    out = Path(os.path.abspath(Path(out).expanduser()))
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise SourcesError(f"{out}: output folder exists and is not empty")
    index = scan_combined(src, sources_csv=sources_csv, home=home)
    if out == Path(index.attrs["root"]) or str(out).startswith(index.attrs["root"].rstrip(os.sep) + os.sep):
        raise SourcesError(f"{out}: the output folder must not be inside the source folder")
    good = usable(index).reset_index(drop=True)
    sources = sorted(good["source"].unique())
    units = _units(good, {})
    if leave_one_out:
        if len(sources) < 2:
            raise SourcesError("leave-one-source-out needs at least two sources")
        test_fold = np.array([sources.index(s) + 1 for s in good["source"]])
        n_folds = len(sources)
    else:
        if len(np.unique(units)) < k:
            raise SourcesError(f"{len(good)} usable images cannot fill {k} folds")
        test_fold = assign_test_folds(good, units, k, seed, strata=good["source"] + "/" + good["label"].astype(str))
        n_folds = k
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    written, summary, left_out = [], [], 0
    try:
        taken: set[str] = set()
        width = max(2, len(str(n_folds)))
        for fold in range(1, n_folds + 1):
            is_test = test_fold == fold
            held_units = set(units[is_test])
            clash = ~is_test & np.isin(units, list(held_units))  # copies of a held-out image elsewhere
            left_out += int(clash.sum())
            train_part = ~is_test & ~clash
            is_valid = carve_validation(good, units, train_part, valid_fraction, np.random.default_rng([seed, fold]))
            name = f"fold_{fold:0{width}d}"
            counts = {"train": 0, "valid": 0, "test": 0}
            for i, row in enumerate(good.itertuples(index=False)):
                if not (is_test[i] or train_part[i]):
                    continue
                split = "test" if is_test[i] else "valid" if is_valid[i] else "train"
                folder = Path(name) / split / labels.CLASS_DIR_NAMES[int(row.label)]
                (staging / folder).mkdir(parents=True, exist_ok=True)
                target = folder / _unique_name(folder, os.path.basename(row.path), taken)
                _place(row.path, staging / target)
                written.append({"relpath": target.as_posix(), "source": row.source})
                counts[split] += 1
            summary.append({"fold": fold, "source": sources[fold - 1] if leave_one_out else "", **counts})
        pd.DataFrame(written).to_csv(staging / SOURCES_FILE, index=False)
        if leave_one_out:
            pd.DataFrame([{"fold": s["fold"], "source": s["source"]} for s in summary]).to_csv(
                staging / FOLD_SOURCES_FILE, index=False)
        if out.exists():
            out.rmdir()
        os.replace(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return {"out": str(out), "sources": {s: int((good["source"] == s).sum()) for s in sources},
            "folds": summary, "left_out_duplicates": left_out, "unusable": int((index["problem"] != "").sum()),
            "leave_one_out": leave_one_out}


def per_source_table(per_fold: pd.DataFrame, root: str | os.PathLike) -> pd.DataFrame:
    """The per-fold table of a leave-one-source-out experiment with the held-out ``source`` of
    each fold first (read from ``ROOT/fold_sources.csv``). Raises SourcesError without it."""
    path = Path(root) / FOLD_SOURCES_FILE
    if not path.is_file():
        raise SourcesError(f"{root}: no {FOLD_SOURCES_FILE}; not a leave-one-source-out layout (see source-folds)")
    mapping = pd.read_csv(path).set_index("fold")["source"]
    table = per_fold.copy()
    table.insert(0, "source", [mapping.get(int(f), "") for f in table["fold"]])
    return table
