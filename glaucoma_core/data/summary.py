"""What a scanned dataset holds, as one JSON-ready dict and as readable text.

Used by ``scan`` (``--json`` prints :func:`scan_summary`, the plain output is
:func:`format_summary`) and available to the app's dataset page.
"""

from __future__ import annotations

import pandas as pd

from glaucoma_core import labels
from glaucoma_core.data.index import dataset_fingerprint, find_duplicates, find_leaks, usable

MAX_LISTED = 50  # problems / duplicates / leaks listed one by one in the text output


def printable(text: str) -> str:
    """A file name safe to print: control characters (newlines ...) and undecodable bytes escaped."""
    out = []
    for ch in text:
        if ch.isprintable() and not 0xDC80 <= ord(ch) <= 0xDCFF:
            out.append(ch)
        elif 0xDC80 <= ord(ch) <= 0xDCFF:
            out.append(f"\\x{ord(ch) - 0xDC00:02x}")  # surrogateescape'd byte
        else:
            out.append(ch.encode("unicode_escape").decode("ascii"))
    return "".join(out)


def _int_or_none(value) -> int | None:
    return None if pd.isna(value) else int(value)


def scan_summary(index: pd.DataFrame) -> dict:
    """JSON-ready summary of an index.

    Keys: root, layout, images (all image files), usable, fingerprint, counts (list of
    {fold, split, label, class, n, usable}), totals_by_split, totals_by_label, sizes
    (list of {width, height, n}, most common first), size_range, modes, problems (list of
    {path, relpath, reason}), duplicates, leaks (list of {fold, sha256, splits, paths}),
    ignored, and scan statistics (cache_hits, decoded, seconds).
    """
    good = usable(index)
    is_good = index["problem"] == ""
    keys = ["fold", "split", "label"]
    counts = []
    if len(index):
        grouped = index.assign(_good=is_good, _split=index["split"].fillna("")).groupby(
            ["fold", "_split", "label"], dropna=False, sort=False)
        for (fold, split, label), group in grouped:
            counts.append({"fold": _int_or_none(fold), "split": split or None, "label": int(label),
                           "class": labels.class_name(label), "n": int(len(group)),
                           "usable": int(group["_good"].sum())})
    split_rank = {s: i for i, s in enumerate(labels.SPLITS)}
    counts.sort(key=lambda c: (c["fold"] or 0, split_rank.get(c["split"], -1), c["label"]))

    by_split = [{"split": s, "n": int((index["split"] == s).sum())} for s in labels.SPLITS
                if (index["split"] == s).any()]
    by_label = [{"label": lab, "class": labels.class_name(lab), "n": int((index["label"] == lab).sum()),
                 "usable": int((good["label"] == lab).sum())}
                for lab in (labels.NEGATIVE_LABEL, labels.POSITIVE_LABEL)]
    sized = good.dropna(subset=["width", "height"])
    sizes = (sized.groupby(["width", "height"]).size().sort_values(ascending=False, kind="stable")
             if len(sized) else pd.Series(dtype=int))
    size_range = None
    if len(sized):
        size_range = {
            "width": {"min": int(sized["width"].min()), "median": float(sized["width"].median()),
                      "max": int(sized["width"].max())},
            "height": {"min": int(sized["height"].min()), "median": float(sized["height"].median()),
                       "max": int(sized["height"].max())},
        }
    duplicates = find_duplicates(index)
    leaks = find_leaks(index)
    return {
        "root": index.attrs.get("root", ""),
        "layout": index.attrs.get("layout", ""),
        "images": int(len(index)),
        "usable": int(len(good)),
        "unique_images": int(good["sha256"].nunique()),
        "fingerprint": dataset_fingerprint(index),
        "counts": [{k: c[k] for k in (*keys, "class", "n", "usable")} for c in counts],
        "totals_by_split": by_split,
        "totals_by_label": by_label,
        "sizes": [{"width": int(w), "height": int(h), "n": int(n)} for (w, h), n in sizes.items()],
        "size_range": size_range,
        "modes": {str(m): int(n) for m, n in good["mode"].value_counts().items()},
        "problems": [{"path": p, "relpath": r, "reason": why} for p, r, why in
                     index.loc[~is_good, ["path", "relpath", "problem"]].itertuples(index=False)],
        "duplicates": [{"fold": _int_or_none(d.fold), "sha256": d.sha256, "n": int(d.n), "paths": list(d.paths),
                        "label_conflict": bool(d.label_conflict)} for d in duplicates.itertuples(index=False)],
        "leaks": [{"fold": int(leak.fold), "sha256": leak.sha256, "splits": list(leak.splits),
                   "paths": list(leak.paths)} for leak in leaks.itertuples(index=False)],
        "ignored": list(index.attrs.get("ignored", [])),
        "cache_hits": int(index.attrs.get("cache_hits", 0)),
        "decoded": int(index.attrs.get("decoded", 0)),
        "seconds": float(index.attrs.get("seconds", 0.0)),
    }


def counts_table(summary: dict) -> pd.DataFrame:
    """Counts by fold x split (rows) and class (columns), with a total column."""
    rows = pd.DataFrame(summary["counts"], columns=["fold", "split", "label", "class", "n", "usable"])
    if rows.empty:
        return pd.DataFrame()
    rows["fold"] = rows["fold"].map(lambda f: "-" if f is None or pd.isna(f) else str(int(f)))
    rows["split"] = rows["split"].fillna("-")
    table = rows.pivot_table(index=["fold", "split"], columns="class", values="n", aggfunc="sum",
                             fill_value=0, sort=False)
    table = table.reindex(columns=[c for c in ("normal", "glaucoma") if c in table.columns])
    table["total"] = table.sum(axis=1)
    return table


def format_summary(summary: dict) -> str:
    """The summary as readable text (the plain output of ``scan``)."""
    lines = [
        f"Dataset {printable(summary['root'])}",
        f"  layout {summary['layout']}, {summary['images']} image files, {summary['usable']} usable, "
        f"{summary['unique_images']} unique",
        f"  scanned in {summary['seconds']:.2f} s ({summary['cache_hits']} from cache, "
        f"{summary['decoded']} decoded)",
        "",
        "Counts by fold x split x class:",
    ]
    table = counts_table(summary)
    lines.append(table.to_string() if not table.empty else "  (no images)")
    lines.append("")
    if summary["totals_by_split"]:
        lines.append("Totals by split: " + ", ".join(f"{t['split']} {t['n']}" for t in summary["totals_by_split"]))
    lines.append("Totals by class: " + ", ".join(
        f"{t['class']} (label {t['label']}) {t['n']}" for t in summary["totals_by_label"]))
    if summary["sizes"]:
        common = ", ".join(f"{s['width']}x{s['height']}: {s['n']}" for s in summary["sizes"][:5])
        more = f" (+{len(summary['sizes']) - 5} other sizes)" if len(summary["sizes"]) > 5 else ""
        r = summary["size_range"]
        lines.append(f"Image sizes: {common}{more}")
        lines.append(f"  width {r['width']['min']}..{r['width']['max']}, height {r['height']['min']}.."
                     f"{r['height']['max']}; modes " + ", ".join(f"{m} {n}" for m, n in summary["modes"].items()))
    lines.append("")
    lines.extend(_listing(f"Problems ({len(summary['problems'])} files not usable)", summary["problems"],
                          lambda p: f"{printable(p['relpath'])}: {p['reason']}"))
    lines.extend(_listing(
        f"Duplicates ({len(summary['duplicates'])} groups of identical images within a fold)",
        summary["duplicates"],
        lambda d: f"fold {d['fold'] if d['fold'] is not None else '-'}: "
                  + ", ".join(printable(p) for p in d["paths"])
                  + ("  [DIFFERENT LABELS]" if d["label_conflict"] else "")))
    lines.extend(_listing(
        f"Leaks ({len(summary['leaks'])} images in a fold's test split and its train/valid)", summary["leaks"],
        lambda leak: f"fold {leak['fold']} ({'+'.join(leak['splits'])}): "
                     + ", ".join(printable(p) for p in leak["paths"])))
    if summary["ignored"]:
        lines.append("Ignored folders (not part of the layout): " + ", ".join(printable(p) for p in summary["ignored"]))
    return "\n".join(lines).rstrip() + "\n"


def _listing(title: str, items: list, describe) -> list[str]:
    if not items:
        return [title.split(" (")[0] + ": none"]
    lines = [title + ":"]
    lines.extend("  " + describe(item) for item in items[:MAX_LISTED])
    if len(items) > MAX_LISTED:
        lines.append(f"  ... and {len(items) - MAX_LISTED} more (use --json for all)")
    return lines
