"""Altair charts of the dataset page (data in, chart out; the numbers come from the core)."""

from __future__ import annotations

import altair as alt
import pandas as pd

CLASS_COLORS = alt.Scale(domain=["normal", "glaucoma"], range=["#4c78a8", "#e45756"])
CHANNEL_COLORS = alt.Scale(domain=["red", "green", "blue"], range=["#d62728", "#2ca02c", "#1f77b4"])


def class_balance_chart(counts: pd.DataFrame) -> alt.Chart:
    """Stacked bars of images per class for each fold and split.

    counts: columns fold (str), split, class, images.
    """
    return (
        alt.Chart(counts)
        .mark_bar()
        .encode(
            x=alt.X("fold:N", title="fold", sort=None),
            y=alt.Y("images:Q", title="images", stack="normalize", axis=alt.Axis(format="%")),
            color=alt.Color("class:N", scale=CLASS_COLORS),
            column=alt.Column("split:N", sort=["train", "valid", "test"], title=None),
            tooltip=["fold", "split", "class", "images"],
        )
        .properties(width=160, height=180)
    )


def distribution_chart(stats: pd.DataFrame, column: str, title: str) -> alt.Chart:
    """Overlaid histograms of one per-image statistic by class."""
    return (
        alt.Chart(stats)
        .mark_bar(opacity=0.55, binSpacing=0)
        .encode(
            x=alt.X(f"{column}:Q", bin=alt.Bin(maxbins=30), title=title),
            y=alt.Y("count():Q", stack=None, title="images"),
            color=alt.Color("class:N", scale=CLASS_COLORS),
        )
        .properties(height=200)
    )


def size_scatter(index: pd.DataFrame) -> alt.Chart:
    """Width against height of every image, coloured by class."""
    table = index[["width", "height", "class"]].astype({"width": float, "height": float})
    return (
        alt.Chart(table)
        .mark_circle(opacity=0.5)
        .encode(
            x=alt.X("width:Q", scale=alt.Scale(zero=False)),
            y=alt.Y("height:Q", scale=alt.Scale(zero=False)),
            color=alt.Color("class:N", scale=CLASS_COLORS),
            tooltip=["width", "height", "class", "count()"],
        )
        .properties(height=220)
    )


def colour_histogram_chart(histograms: pd.DataFrame) -> alt.Chart:
    """Mean colour histogram per channel, one panel per class."""
    return (
        alt.Chart(histograms)
        .mark_line()
        .encode(
            x=alt.X("bin_start:Q", title="pixel value"),
            y=alt.Y("fraction:Q", title="share of pixels"),
            color=alt.Color("channel:N", scale=CHANNEL_COLORS),
            column=alt.Column("class:N", title=None),
        )
        .properties(width=280, height=180)
    )
