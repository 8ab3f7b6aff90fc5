"""CLI: ``app`` starts the Streamlit app of the installed package (or of this checkout).

The app's entry point ``streamlit_app.py`` is found with importlib, so the command works the
same from a checkout and from a ``pip install``-ed package in any folder. The settings of the
checkout's ``.streamlit/config.toml`` (listen on 127.0.0.1 only, no telemetry, upload limit)
are passed on the command line, because an installed app has no ``.streamlit/`` folder beside
the current directory; options given after ``--`` are passed on to ``streamlit run`` and
override them (``glaucoma app -- --server.port 8600``).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
from pathlib import Path

from glaucoma_core.errors import UserError

# The same values as .streamlit/config.toml (tests/export/test_packaging.py checks that they agree).
APP_SETTINGS = {
    "server.address": "127.0.0.1",
    "server.headless": "true",
    "server.maxUploadSize": "25",
    "server.maxMessageSize": "200",
    "server.runOnSave": "false",
    "server.fileWatcherType": "none",
    "browser.gatherUsageStats": "false",
    "client.toolbarMode": "minimal",
    "client.showErrorDetails": "full",
    "theme.base": "light",
}


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "app", help="start the Streamlit app (http://127.0.0.1:8501)",
        description="Start the workbench's Streamlit app from the installed package. Any further "
                    "options after -- are passed to `streamlit run` (glaucoma app -- --server.port 8600). "
                    "The app listens on 127.0.0.1 only unless you pass --server.address (read the README "
                    "first).")
    p.add_argument("--print-command", action="store_true",
                   help="print the streamlit command instead of running it")
    p.add_argument("streamlit_options", nargs=argparse.REMAINDER, metavar="STREAMLIT_OPTION",
                   help="after --: options for `streamlit run`, e.g. -- --server.port 8600")
    p.set_defaults(func=cmd_app)


def app_script() -> Path:
    """Path of ``streamlit_app.py`` as Python would import it (installed package or checkout)."""
    spec = importlib.util.find_spec("streamlit_app")
    if spec is None or not spec.origin:
        raise UserError("streamlit_app.py is not installed: reinstall the package (pip install glaucoma-workbench)")
    path = Path(spec.origin)
    if not (path.parent / "app_pages").is_dir():
        raise UserError(f"{path.parent}: app_pages/ is missing beside streamlit_app.py; reinstall the package")
    return path


def streamlit_command(options: list[str] | None = None) -> list[str]:
    """The argv that starts the app: this Python's ``-m streamlit run``, our settings, then ``options``."""
    options = [o for o in (options or []) if o != "--"]
    given = {o.split("=", 1)[0].lstrip("-") for o in options if o.startswith("--")}
    settings = [f"--{key}={value}" for key, value in APP_SETTINGS.items() if key not in given]
    return [sys.executable, "-m", "streamlit", "run", str(app_script()), *settings, *options]


def cmd_app(args) -> int:
    if importlib.util.find_spec("streamlit") is None:
        raise UserError("streamlit is not installed in this Python environment")
    command = streamlit_command(args.streamlit_options)
    if args.print_command:
        print(" ".join(command))
        return 0
    if getattr(args, "home", None):
        # `glaucoma --home H app`: the app reads its home from the environment.
        os.environ["GLAUCOMA_HOME"] = str(Path(args.home).expanduser().resolve())
    sys.stdout.flush()
    os.execv(command[0], command)
    return 0  # not reached
