"""Size presets of the benchmarks: generated datasets of a given style and size, cached once.

A preset names what the demo generator (``glaucoma_core.data.demo.generate_demo_dataset``)
renders: its image style ('disc', 'full-field', 'disc-crop'), image size, number of unique
images and folds. The dataset is generated on first use into
``paths.cache_dir(home)/bench-data/<preset>-n<N>-k<K>-s<seed>/`` (into a hidden sibling, then
renamed, so a half-written set is never used) and reused afterwards.

``scale-224-<N>`` is a preset for any N (the scale curve's 400, 1707, 10000...).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class SizePreset:
    """A generated dataset: style, image_size (side; height for 'full-field'), n_images, k folds.

    about: what the images are like, for the reports.
    """

    name: str
    style: str
    image_size: int
    n_images: int
    k: int
    about: str


PRESETS = {
    "demo-256": SizePreset("demo-256", "disc", 256, 400, 10,
                           "the demo dataset's 256 px disc-centred images (JPEG, camera qualities)"),
    # rendering one 2000 px photograph costs ~10-16 s of CPU on this machine: few images
    "full-field-2000": SizePreset("full-field-2000", "full-field", 2000, 64, 2,
                                  "full-field photographs 2000 px high, 2000-3000 px wide (4-6 MP), "
                                  "camera JPEG quality and EXIF"),
    "full-field-1600": SizePreset("full-field-1600", "full-field", 1600, 64, 2,
                                  "full-field photographs 1600 px high, 1600-2400 px wide"),
    "disc-crop-800": SizePreset("disc-crop-800", "disc-crop", 800, 48, 2,
                                "disc-centred crops of 640-1000 px, 2-3.5 disc diameters wide"),
}

_SCALE = re.compile(r"^scale-(\d+)-(\d+)$")


def preset(name: str) -> SizePreset:
    """The preset called ``name`` (one of PRESETS, or ``scale-<size>-<N>``: N 'disc' images, 10 folds)."""
    if name in PRESETS:
        return PRESETS[name]
    match = _SCALE.match(name)
    if match:
        size, n = int(match.group(1)), int(match.group(2))
        return SizePreset(name, "disc", size, n, 10, f"{n} unique {size} px disc-centred images, 10 folds")
    raise SystemExit(f"unknown size preset {name!r} (one of {', '.join(PRESETS)}, or scale-<size>-<N>)")


def preset_folder(p: SizePreset, home=None, seed: int = 0) -> Path:
    """Where preset ``p`` is cached under the workbench home."""
    from glaucoma_core import paths

    return paths.cache_dir(home) / "bench-data" / f"{p.name}-n{p.n_images}-k{p.k}-s{seed}"


#: Presets of at least this many images are rendered in worker processes (spawned: the scripts
#: that call ensure_preset have the ``__main__`` guard), one per CPU.
PROCESS_MIN_IMAGES = 200


def _processes(p: SizePreset) -> int:
    cpus = os.cpu_count() or 1
    return cpus if cpus > 1 and (p.n_images >= PROCESS_MIN_IMAGES or p.style == "full-field") else 0


def ensure_preset(name: str, home=None, seed: int = 0, log=None) -> Path:
    """The dataset folder of preset ``name``, generated on first use (fold layout)."""
    from glaucoma_core.data.demo import PARAMETERS_FILE, generate_demo_dataset

    p = preset(name)
    target = preset_folder(p, home, seed)
    if (target / PARAMETERS_FILE).is_file():
        return target
    if target.exists():
        shutil.rmtree(target)  # an incomplete earlier attempt
    target.parent.mkdir(parents=True, exist_ok=True)
    if log:
        log(f"generating size preset {p.name} ({p.n_images} images, {p.about}) into {target} once ...")
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        built = generate_demo_dataset(work / "data", n_images=p.n_images, seed=seed, k=p.k,
                                      image_size=p.image_size, home=home, style=p.style,
                                      processes=_processes(p))
        try:
            os.replace(built, target)
        except OSError:
            if not (target / PARAMETERS_FILE).is_file():
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target
