"""Pieces shared by the command modules: argument types, the workbench, threshold options."""

from __future__ import annotations

import argparse
import math
import sys

from glaucoma_core.errors import UserError

MAX_ARGUMENT_ID = 2**63 - 1


def positive_int(text: str) -> int:
    """argparse type: a whole number of at least 1 (and at most SQLite's largest integer)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    if value > MAX_ARGUMENT_ID:
        raise argparse.ArgumentTypeError(f"must be at most {MAX_ARGUMENT_ID}, got {value}")
    return value


def workbench(args: argparse.Namespace, *, read_only: bool = False):
    """The workbench of ``--home`` (or the default home)."""
    from glaucoma_core.workbench import Workbench

    return Workbench(args.home, read_only=read_only)


def open_store(args: argparse.Namespace):
    """The run store of ``--home`` (or the default home); a broken store is a UserError."""
    return workbench(args).store


def add_threshold_options(p: argparse.ArgumentParser) -> None:
    """The threshold rule flags, the same for every command that shows classification figures."""
    group = p.add_mutually_exclusive_group()
    group.add_argument("--threshold", type=float, help="fixed threshold on P(glaucoma) (default 0.5)")
    group.add_argument("--target-sensitivity", type=float, metavar="S",
                       help="highest threshold reaching sensitivity S on validation (per fold)")
    group.add_argument("--target-specificity", type=float, metavar="S",
                       help="lowest threshold reaching specificity S on validation (per fold)")
    group.add_argument("--youden", action="store_true", help="threshold maximising Youden's J on validation")
    group.add_argument("--max-f1", action="store_true", help="threshold maximising F1 on validation")


def threshold_rule(args: argparse.Namespace):
    """The ThresholdRule the threshold options give (fixed 0.5 when none is given)."""
    from glaucoma_core.workbench import ThresholdRule

    for option, method in (("target_sensitivity", "target_sensitivity"),
                           ("target_specificity", "target_specificity")):
        value = getattr(args, option, None)
        if value is not None:
            return ThresholdRule(method, _finite(value, "--" + option.replace("_", "-")))
    if getattr(args, "youden", False):
        return ThresholdRule("youden", None)
    if getattr(args, "max_f1", False):
        return ThresholdRule("max_f1", None)
    if getattr(args, "threshold", None) is not None:
        return ThresholdRule("fixed", _finite(args.threshold, "--threshold"))
    return ThresholdRule()


def _finite(value: float, option: str) -> float:
    if math.isnan(value) or not 0.0 <= value <= 1.0:
        raise UserError(f"{option} must be between 0 and 1, got {value}")
    return value


def echo_for(args: argparse.Namespace):
    """Where progress lines go: stderr when --json keeps stdout for the JSON document."""
    stream = sys.stderr if getattr(args, "json", False) else sys.stdout

    def echo(message: str) -> None:
        print(message, file=stream, flush=True)

    return echo
