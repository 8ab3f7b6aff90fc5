"""``python -m glaucoma_core``: the headless command line."""

import os

# TensorFlow's C++ info and warning lines (cost-model notes, CPU feature hints) drown the
# progress output; errors still show. Set TF_CPP_MIN_LOG_LEVEL=0 to see everything.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from glaucoma_core.cli import main  # noqa: E402

raise SystemExit(main())
