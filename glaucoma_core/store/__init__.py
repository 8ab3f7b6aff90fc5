"""The run store: SQLite (experiments, runs, epochs, predictions, final metrics) and model files.

``RunStore(home)`` is the entry point; importing this package does not import TensorFlow.
"""

from glaucoma_core.store.ids import InvalidId
from glaucoma_core.store.model_files import ModelFileProblem, ModelSaveError
from glaucoma_core.store.run_store import RunNotFound, RunStore, StoreWarning
from glaucoma_core.store.schema import SCHEMA_VERSION, StoreError

__all__ = [
    "SCHEMA_VERSION", "InvalidId", "ModelFileProblem", "ModelSaveError", "RunNotFound", "RunStore",
    "StoreError", "StoreWarning",
]
