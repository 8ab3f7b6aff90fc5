"""Glaucoma workbench core: datasets, training, evaluation and the run store.

Importable and testable without Streamlit. Importing this package does not import
TensorFlow; modules that need it import it themselves.
"""

__version__ = "0.1.0"
