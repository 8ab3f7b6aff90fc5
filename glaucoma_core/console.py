"""The ``glaucoma`` console command (installed by ``pip install``): ``python -m glaucoma_core``."""

from __future__ import annotations

import os


def main() -> int:
    """Run the command line as ``python -m glaucoma_core`` does (TensorFlow's C++ info lines hidden)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from glaucoma_core.cli import main as cli_main

    return cli_main()
