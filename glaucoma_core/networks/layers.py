"""Every custom Keras layer our models contain, registered on import.

Import this module (the run store does) before ``keras.saving.load_model(..., safe_mode=True)``.
"""

from glaucoma_core.networks.disc_crop import DiscCrop
from glaucoma_core.networks.preprocessing import ImagePreprocessing

__all__ = ["DiscCrop", "ImagePreprocessing"]
