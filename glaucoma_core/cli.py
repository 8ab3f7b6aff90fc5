"""Command-line entry point: builds the parser from the command modules and dispatches.

Each module in :mod:`glaucoma_core.commands` exposes ``register(subparsers)``, which adds its
subcommands and sets ``func`` (a callable taking the parsed namespace and returning an exit
code) as the parser default. Commands parse, call the core and print; nothing else.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from glaucoma_core.errors import ConfigError, UserError

COMMAND_MODULES = (
    "glaucoma_core.commands.data_commands",
    "glaucoma_core.commands.demo_commands",
    "glaucoma_core.commands.train_commands",
    "glaucoma_core.commands.eval_commands",
    "glaucoma_core.commands.external_commands",
    "glaucoma_core.commands.export_commands",
    "glaucoma_core.commands.app_commands",
    "glaucoma_core.commands.study_commands",
    "glaucoma_core.commands.report_commands",
    "glaucoma_core.commands.serve_commands",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m glaucoma_core",
        description="Glaucoma workbench: datasets, training, cross-validation, evaluation.",
    )
    parser.add_argument("--home", help="workbench home (run store, caches); default $GLAUCOMA_HOME or models/")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    import warnings

    from glaucoma_core.store import StoreWarning

    # The commands print a store's warnings in words (`runs`); not twice as Python warnings.
    warnings.simplefilter("ignore", StoreWarning)
    try:
        return int(args.func(args) or 0)
    except ConfigError as exc:
        print(f"error: config: {exc}", file=sys.stderr)
        return 2
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`runs | head`): stop quietly, as Unix tools do.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
