"""Fundus-aware image preparation between the decoded file and the network (issue 16).

One concept per module: :mod:`.field_of_view` (the camera's circular field),
:mod:`.optic_disc` (where the disc is, how large, how sure), :mod:`.illumination` (Graham's
local mean subtraction, CLAHE), :mod:`.settings` (which steps a config asks for) and
:mod:`.prepare` (the steps in their fixed order; :func:`load_prepared_array` is what every
path that feeds a model calls).
"""

from glaucoma_core.preparation.prepare import (
    RECORDS,
    PreparedImage,
    cache_key,
    load_prepared_array,
    prepare_image,
)
from glaucoma_core.preparation.settings import (
    DISC_CROP_MODES,
    ILLUMINATION_METHODS,
    PREPARATION_VERSION,
    PreparationSettings,
)

__all__ = [
    "DISC_CROP_MODES",
    "ILLUMINATION_METHODS",
    "PREPARATION_VERSION",
    "RECORDS",
    "PreparationSettings",
    "PreparedImage",
    "cache_key",
    "load_prepared_array",
    "prepare_image",
]
