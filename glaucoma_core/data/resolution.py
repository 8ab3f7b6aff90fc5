"""Resolution normalisation: every image brought to one effective resolution before the network's resize.

Some databases store one class at another resolution than the other (ACRIMA: glaucoma images
at about twice the size of normal ones). After the network's resize both look alike in size,
but not in sharpness, JPEG block size or noise grain, which a network can learn instead of the
disease. Downscaling every image to one side ``resolution`` first (at most the smallest image
side of the dataset), then resizing that to the network's input, gives every image the same
detail whatever size it was stored at.
"""

from __future__ import annotations

import numpy as np
from PIL import Image


def normalise_resolution(source, size: int, resolution: int) -> np.ndarray:
    """The image ``source`` (path or bytes) as uint8 (size, size, 3) at effective ``resolution``.

    The file is decoded and downscaled to ``resolution`` x ``resolution`` (bilinear,
    antialiased), then resized to ``size`` x ``size``. Raises ImageProblem like
    :func:`glaucoma_core.data.images.load_rgb_array`.
    """
    from glaucoma_core.data.images import load_rgb_array

    if int(resolution) < 1:
        raise ValueError(f"resolution must be a positive number of pixels, got {resolution}")
    small = load_rgb_array(source, size=int(resolution))
    if int(resolution) == int(size):
        return small
    return np.asarray(Image.fromarray(small).resize((int(size), int(size)), Image.Resampling.BILINEAR), dtype=np.uint8)
