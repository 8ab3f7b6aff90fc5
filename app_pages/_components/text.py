"""Showing user-supplied text (file names, folder names) safely inside Markdown."""

from __future__ import annotations

import re

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\](){}#|<>~$])")


def md_escape(text: str) -> str:
    """``text`` with Markdown and Streamlit directive characters escaped (a name, never a link)."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", str(text))
