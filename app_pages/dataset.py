"""Dataset view: counts, class balance, an image browser, image statistics, shortcuts, problems."""

from __future__ import annotations

import math

import pandas as pd
import streamlit as st

from app_pages._components import dataset_charts as charts
from app_pages._components import preparation_view
from app_pages._components.fold_maker import make_folds_form
from app_pages._components.loaders import cached_image_statistics, dataset_index, full_image, thumbnail
from app_pages._components.sidebar import get_context
from app_pages._components.text import md_escape
from glaucoma_core.data.image_stats import size_summary, summarize_by_class
from glaucoma_core.data.index import find_duplicates, find_leaks, fold_numbers, usable
from glaucoma_core.data.shortcuts import SIZE_NAMES, shortcut_report
from glaucoma_core.labels import CLASS_NAMES

PAGE_SIZE = 24
STAT_NAMES = {
    "brightness": "mean brightness (0–255)",
    "brightness_sd": "brightness spread within an image",
    "mean_red": "mean red",
    "mean_green": "mean green",
    "mean_blue": "mean blue",
    "dark_fraction": "share of dark pixels (border)",
}
GRID_COLUMNS = 6

ctx = get_context()
st.title("Dataset")

try:
    index = dataset_index(ctx.data_root, ctx.home)
except Exception as exc:  # a folder the scanner refuses: say why, do not crash
    st.error(f"Cannot read the dataset at `{ctx.data_root}`: {exc}")
    st.stop()

if index.empty:
    st.info(
        f"No images found in `{ctx.data_root}`. Expected fold folders (fold_1/train/normal, …) "
        "or class folders (normal/, abnormal/). Choose another folder in the sidebar."
    )
    st.stop()

index = index.assign(**{"class": index["label"].map(CLASS_NAMES)})
good = usable(index)
layout = index.attrs.get("layout", "?")
folds = fold_numbers(index)

c1, c2, c3, c4 = st.columns(4)
copies = " (every fold's copy counted)" if folds else ""
c1.metric("Images (rows)", f"{len(index):,}", help=f"Image files listed{copies}.")
c2.metric("Unique images", f"{index['sha256'].nunique():,}", help="Distinct image contents (SHA-256).")
c3.metric("Usable rows" if folds else "Usable", f"{len(good):,}",
          help=f"Files that decode{copies}; {good['sha256'].nunique():,} unique.")
c4.metric("Folds", len(folds) if folds else "flat")
st.caption(f"{ctx.data_label} · layout `{layout}` · `{ctx.data_root}`")

problem_rows = index[index["problem"] != ""]
leak_rows = find_leaks(index)
if len(leak_rows):
    st.error(f"**{len(leak_rows)} leak(s)**: images in both the test split and the train or valid split of a fold; "
             "that fold's test figures are not on unseen images. See *Duplicates, leaks, problems*.",
             icon=":material/error:")
if len(problem_rows):
    st.warning(f"**{len(problem_rows)} unusable file(s)** are left out of training and evaluation. "
               "See *Duplicates, leaks, problems*.", icon=":material/warning:")


def _shortcut_warnings(report: pd.DataFrame) -> None:
    """One warning per flagged property; the size properties (width, height, pixel count,
    aspect) say the same thing and share one warning."""
    flagged = report[report["flagged"]]
    sizes = flagged[flagged["name"].isin(SIZE_NAMES - {"file size"})]
    if len(sizes):
        first = sizes.iloc[0]
        also = ", ".join(f"{r.name} (AUC {r.auc:.2f})" for r in sizes.iloc[1:].itertuples())
        st.warning(f"**Possible shortcut: image size.** {first['message']}" + (f" Also: {also}." if also else ""),
                   icon=":material/warning:")
    for row in flagged[~flagged.index.isin(sizes.index)].itertuples():
        st.warning(f"**Possible shortcut.** {row.message}", icon=":material/warning:")


if not folds:
    with st.expander("Make folds: cross-validation folds from this flat dataset", icon=":material/view_column:"):
        make_folds_form(ctx, good)

index_shortcuts = shortcut_report(good)
shortcut_slot = st.container()  # filled once the colour statistics are read (tab below)

tab_counts, tab_browse, tab_stats, tab_problems = st.tabs(
    ["Counts", "Browse images", "Image statistics", "Duplicates, leaks, problems"]
)

# ---- counts ---------------------------------------------------------------------------
with tab_counts:
    if not folds:
        st.subheader("Images by class")
        flat_counts = index.assign(state=index["problem"].map(lambda p: "unusable" if p else "usable")).pivot_table(
            index="class", columns="state", values="path", aggfunc="count", fill_value=0)
        st.dataframe(flat_counts, width="stretch")
        st.caption("A flat dataset (class folders, no folds): make folds below to train and cross-validate on it.")
    else:
        counts = (
            index.assign(fold=index["fold"].fillna(0).astype(int), split=index["split"].fillna("—"))
            .groupby(["fold", "split", "class"], sort=True)
            .size()
            .rename("images")
            .reset_index()
        )
        split_order = {"train": 0, "valid": 1, "test": 2}
        counts = counts.sort_values(["fold", "split"], key=lambda c: c.map(split_order) if c.name == "split" else c)
        counts["fold"] = counts["fold"].map(lambda f: str(f) if f else "—")
        class_order = ["normal", "glaucoma", "total"]

        def _pivot(frame, rows):
            table = frame.pivot_table(index=rows, columns="class", values="images", aggfunc="sum", fill_value=0,
                                      margins=True, margins_name="total", sort=False)
            return table.reindex(columns=[c for c in class_order if c in table.columns])

        table = _pivot(counts, ["fold", "split"])
        st.subheader("Images by fold, split and class")
        st.dataframe(table, width="stretch", height=min(38 + 35 * len(table), 600))
        st.subheader("Totals by split")
        st.caption("Each image appears once per fold, so these totals count every fold's copy.")
        st.dataframe(_pivot(counts, ["split"]), width="stretch")
        st.download_button(
            "Download the counts (CSV)", table.to_csv().encode(), file_name="dataset_counts.csv", mime="text/csv"
        )
        st.subheader("Class balance per fold")
        st.altair_chart(charts.class_balance_chart(counts), width="content")

# ---- browser --------------------------------------------------------------------------
with tab_browse:
    f1, f2, f3, f4 = st.columns(4)
    fold_options = folds or []
    chosen_folds = f1.multiselect("Fold", fold_options, key="browse_folds", placeholder="all folds")
    chosen_splits = f2.multiselect(
        "Split", [s for s in ["train", "valid", "test"] if s in set(index["split"].dropna())],
        key="browse_splits", placeholder="all splits",
    )
    chosen_classes = f3.multiselect("Class", ["normal", "glaucoma"], key="browse_classes", placeholder="both")
    which = f4.selectbox("Images", ["usable", "with a problem", "all"], key="browse_which")
    view = index
    if chosen_folds:
        view = view[view["fold"].isin(chosen_folds)]
    if chosen_splits:
        view = view[view["split"].isin(chosen_splits)]
    if chosen_classes:
        view = view[view["class"].isin(chosen_classes)]
    if which == "usable":
        view = view[view["problem"] == ""]
    elif which == "with a problem":
        view = view[view["problem"] != ""]
    n_pages = max(1, math.ceil(len(view) / PAGE_SIZE))
    p1, p2 = st.columns([1, 3])
    page_no = p1.number_input("Page", min_value=1, max_value=n_pages, value=1, step=1, key="browse_page")
    p2.caption(f"{len(view):,} images match · page {page_no} of {n_pages}")

    selected = st.session_state.get("browse_selected")
    if selected is not None and selected in set(index["path"]):
        row = index[index["path"] == selected].iloc[0]
        with st.container(border=True):
            left, right = st.columns([3, 2])
            image = full_image(row["path"])
            if isinstance(image, str):
                left.error(f"Cannot show `{row['relpath']}`: {image}")
            else:
                left.image(image, caption=row["relpath"], width="stretch")
            meta = row.drop(labels=["path"]).astype(str).rename("value").to_frame()
            right.markdown("**Metadata**")
            right.dataframe(meta, width="stretch")
            if right.button("Close", key="browse_close"):
                st.session_state.pop("browse_selected", None)
                st.rerun()

    shown = view.iloc[(page_no - 1) * PAGE_SIZE : page_no * PAGE_SIZE]
    if shown.empty:
        st.info("No image matches these filters.")
    for start in range(0, len(shown), GRID_COLUMNS):
        cols = st.columns(GRID_COLUMNS)
        for col, row in zip(cols, shown.iloc[start : start + GRID_COLUMNS].itertuples(), strict=False):
            thumb = thumbnail(row.path)
            where = " · ".join(str(x) for x in (f"fold {row.fold}" if not pd.isna(row.fold) else None, row.split)
                               if x and not pd.isna(x))
            if isinstance(thumb, str):
                col.error(thumb)
            else:
                col.image(thumb, width="stretch")
            name = md_escape(str(row.relpath).replace("\\", "/").rsplit("/", 1)[-1])
            col.caption(f"{name}  \n{where + ' · ' if where else ''}{CLASS_NAMES[int(row.label)]}")
            if col.button("View", key=f"view_{row.Index}"):
                st.session_state["browse_selected"] = row.path
                st.rerun()

# ---- statistics -----------------------------------------------------------------------
with tab_stats:
    st.subheader("Image sizes by class")
    st.dataframe(size_summary(index), width="stretch", hide_index=True)
    if good[["width", "height"]].drop_duplicates().shape[0] > 1:
        st.altair_chart(charts.size_scatter(good), width="stretch")
    else:
        st.caption("Every usable image has the same size.")
    per_class = st.select_slider(
        "Images read per class", options=[25, 50, 100, 200, 500, 1000], value=100, key="stats_per_class",
        help="Brightness and colour are computed on a random sample of each class, read at 64 x 64.",
    )
    with st.spinner("Reading images…"):
        stats, histograms = cached_image_statistics(ctx.data_root, ctx.home, per_class)
    if stats.empty:
        st.info("No readable image to compute statistics on.")
    else:
        st.subheader("Brightness and colour by class")
        summary = summarize_by_class(stats).set_index("class")
        readable = pd.DataFrame({
            cls: {
                name: f"{summary.loc[cls, f'{col}_mean']:.3g} ± {summary.loc[cls, f'{col}_sd']:.2g}"
                for col, name in STAT_NAMES.items()
            } | {"images read": str(int(summary.loc[cls, "n"]))}
            for cls in summary.index
        })
        st.dataframe(readable, width="stretch")
        s1, s2 = st.columns(2)
        s1.altair_chart(charts.distribution_chart(stats, "brightness", "mean brightness (0–255)"), width="stretch")
        s2.altair_chart(charts.distribution_chart(stats, "dark_fraction", "share of dark pixels"), width="stretch")
        st.altair_chart(charts.colour_histogram_chart(histograms), width="content")

    st.subheader("Shortcut check")
    st.caption(
        "Each property is used alone as a glaucoma score. AUC near 0.5: it says nothing about the class. "
        "Far from 0.5: it separates the classes by itself, and a network may learn it instead of the disease."
    )
    pixel_props = {
        "brightness": "mean brightness",
        "mean_red": "mean red",
        "mean_green": "mean green",
        "mean_blue": "mean blue",
        "dark_fraction": "share of dark pixels",
    }
    report = pd.concat([index_shortcuts, shortcut_report(stats, pixel_props) if not stats.empty else None],
                       ignore_index=True)
    with shortcut_slot:  # at the top of the page: the size properties once, the colour ones too
        _shortcut_warnings(report)
    st.dataframe(
        report[["name", "auc", "flagged", "distinct", "message"]],
        width="stretch",
        hide_index=True,
        column_config={"auc": st.column_config.NumberColumn("AUC", format="%.2f")},
    )

# ---- problems -------------------------------------------------------------------------
with tab_problems:
    problems = index[index["problem"] != ""]
    st.subheader(f"Unusable files ({len(problems)})")
    if problems.empty:
        st.success("Every image decodes.")
    else:
        st.dataframe(problems[["relpath", "problem", "bytes"]], width="stretch", hide_index=True,
                     column_config={"relpath": st.column_config.TextColumn("file", width="large"),
                                    "problem": st.column_config.TextColumn(width="large")})
    duplicates = find_duplicates(index)
    leaks = find_leaks(index)
    if len(leaks) and len(duplicates):  # a leak is reported as a leak, not also as a duplicate
        leaked = set(zip(leaks["fold"].astype(int), leaks["sha256"], strict=True))
        duplicates = duplicates[[(int(f) if not pd.isna(f) else None, h) not in leaked
                                 for f, h in zip(duplicates["fold"], duplicates["sha256"], strict=True)]]
    duplicates = duplicates[[c for c in ("paths", "n", "fold", "labels", "label_conflict", "sha256")
                             if c in duplicates.columns]]
    st.subheader(f"Duplicates ({len(duplicates)})")
    st.caption("The same image content (SHA-256) stored more than once within a split of a fold (or in a flat "
               "dataset); copies across the splits of a fold are leaks, listed below.")
    if len(duplicates):
        st.dataframe(duplicates, width="stretch", hide_index=True,
                     column_config={"paths": st.column_config.ListColumn("files", width="large"),
                                    "sha256": st.column_config.TextColumn("SHA-256", width="small")})
    else:
        st.success("No duplicate files.")
    st.subheader(f"Leaks between splits ({len(leaks)})")
    st.caption("An image that appears in two splits of the same fold: the test set is not unseen.")
    if len(leaks):
        st.dataframe(leaks[["paths", "splits", "fold", "sha256"]], width="stretch", hide_index=True,
                     column_config={"paths": st.column_config.ListColumn("files", width="large"),
                                    "sha256": st.column_config.TextColumn("SHA-256", width="small")})
    else:
        st.success("No image is shared between the train, valid and test splits of a fold.")

# ---- fundus preparation (issue 16): detected field and disc, prepared crops ------------------

with st.expander("Fundus preparation: field of view, optic disc and crop on a sample of images"):
    preparation_view.dataset_section(good)
