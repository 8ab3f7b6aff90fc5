"""Pieces shared by the command modules: argument types and opening the run store."""

from __future__ import annotations

import argparse

from glaucoma_core.errors import UserError


def positive_int(text: str) -> int:
    """argparse type: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def open_store(args: argparse.Namespace):
    """The run store of ``--home`` (or the default home); a broken store is a UserError."""
    from glaucoma_core.store import RunStore, StoreError

    try:
        return RunStore(args.home)
    except StoreError as exc:
        raise UserError(str(exc)) from None
