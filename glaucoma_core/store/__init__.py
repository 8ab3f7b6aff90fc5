"""The run store: SQLite (experiments, runs, epochs, predictions, final metrics) and model files.

``RunStore(home)`` is the entry point; importing this package does not import TensorFlow.
"""

from glaucoma_core.store.model_files import ModelFileProblem, ModelSaveError
from glaucoma_core.store.run_store import RunNotFound, RunStore
from glaucoma_core.store.schema import SCHEMA_VERSION, StoreError

__all__ = ["SCHEMA_VERSION", "ModelFileProblem", "ModelSaveError", "RunNotFound", "RunStore", "StoreError"]
