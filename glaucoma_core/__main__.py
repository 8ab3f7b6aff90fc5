"""``python -m glaucoma_core``: the headless command line."""

from glaucoma_core.cli import main

raise SystemExit(main())
