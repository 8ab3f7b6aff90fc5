"""The demo dataset: synthetic fundus photographs in the paper's 10-fold layout.

A fresh machine has no fundus database, yet every page of the app should show something real.
:func:`generate_demo_dataset` renders a few hundred synthetic photographs (see
:mod:`glaucoma_core.data.fundus_synth`), saves them as JPEGs in a flat ``normal/`` +
``abnormal/`` folder and splits that into ``fold_01 .. fold_k`` with
:func:`glaucoma_core.data.folds.make_folds`. ``demo_parameters.csv`` beside the folds gives
each image's true cup-to-disc ratio and every other generating parameter.

:func:`ensure_demo_dataset` does this once per workbench home, atomically;
:func:`resolve_data_root` picks the folder a command or page should use.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

import pandas as pd

from glaucoma_core import paths
from glaucoma_core.data.fundus_synth import (
    CAMERAS,
    STYLES,
    FullFieldLayout,
    FundusParameters,
    encode_camera_jpeg,
    encode_jpeg,
    render_disc_crop,
    render_full_field,
    render_fundus,
    sample_full_field,
    sample_parameters,
)
from glaucoma_core.errors import UserError
from glaucoma_core.labels import CLASS_DIR_NAMES, CLASS_NAMES

DEFAULT_N_IMAGES = 400
DEFAULT_SEED = 0
DEFAULT_K = 10
DEFAULT_IMAGE_SIZE = 256
#: Image style of the demo dataset (see fundus_synth.STYLES): 'disc' (the default demo images),
#: 'full-field' (black-bordered photographs, the disc small and off-centre, bright spots and
#: reflections; image_size is the height) or 'disc-crop' (disc-centred crops of varying size).
DEFAULT_STYLE = "disc"
PARAMETERS_FILE = "demo_parameters.csv"
# Images are rendered in a few threads (numpy and Pillow release the GIL for most of the work),
# or in worker processes when the caller asks (the vessel drawing holds the GIL).
MAX_THREADS = 4
_STALE_TEMP_SECONDS = 3600


class DemoDataError(UserError, ValueError):
    """A demo or data folder request that cannot be met; the message says which path and why.

    A :class:`glaucoma_core.errors.UserError`, so commands print it without a traceback."""


def image_file_name(index: int, n_images: int) -> str:
    """File name of image ``index`` (0-based): ``fundus_0001.jpg`` ... (says nothing of the label)."""
    return f"fundus_{index + 1:0{max(4, len(str(n_images)))}d}.jpg"


def parameters_table(params: list[FundusParameters], image_size: int = DEFAULT_IMAGE_SIZE) -> pd.DataFrame:
    """One row per image: file, label, class_name, cdr, rim_to_disc, disc_radius_px, camera, ..."""
    rows = []
    for p in params:
        row = {
            "file": image_file_name(p.index, len(params)),
            "label": p.label,
            "class_name": CLASS_NAMES[p.label],
        }
        row.update(p.as_row(image_size))
        row["rim_to_disc"] = round(p.rim_to_disc, 4)
        rows.append(row)
    table = pd.DataFrame(rows)
    first = [
        "file",
        "label",
        "class_name",
        "cdr",
        "rim_to_disc",
        "notch",
        "disc_radius_px",
        "cup_radius_px",
        "camera",
        "camera_name",
        "eye",
    ]
    return table[first + [c for c in table.columns if c not in first]]


def _layout_columns(layout: FullFieldLayout, style: str) -> dict:
    row = {
        "style": style,
        "n_spots": len(layout.spots),
        "n_reflections": len(layout.reflections),
        "illumination_gradient": layout.gradient,
        "aspect": layout.aspect if style == "full-field" else 1.0,
    }
    if style == "disc-crop":
        row["crop_multiple"] = layout.crop_multiple
    return row


def _render_file(job: tuple) -> tuple[int, str, dict]:
    """Render one image and write it to ``path``: (bytes, sha256, truth and layout columns).

    job: (params, layout or None, style, image_size, path). Top-level, so that worker
    processes can run it; the image depends on its parameters only, so where it is rendered
    does not change a byte.
    """
    p, layout, style, image_size, path = job
    extra: dict = {}
    if style == "disc":
        data = encode_jpeg(render_fundus(p, image_size), p.camera)
    else:
        render = render_full_field if style == "full-field" else render_disc_crop
        pixels, truth = render(p, layout, image_size)
        extra = {**truth, **_layout_columns(layout, style)}
        data = encode_camera_jpeg(pixels, p.camera, p.index)
    with open(path, "wb") as handle:
        handle.write(data)
    return len(data), hashlib.sha256(data).hexdigest(), extra


def _run_jobs(jobs: list[tuple], threads: int | None, processes: int) -> list[tuple]:
    """Results of :func:`_render_file` over ``jobs`` in order: in ``processes`` worker processes
    when above 1 (the vessel drawing is Python code that holds the GIL), else in threads, else
    inline."""
    cpus = os.cpu_count() or 1
    if processes > 1 and len(jobs) > 8:
        import multiprocessing

        # spawn, not fork: the caller may have TensorFlow (and its threads) loaded
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(processes, mp_context=context) as pool:
            return list(pool.map(_render_file, jobs, chunksize=max(1, min(32, len(jobs) // (8 * processes)))))
    n_threads = threads or min(MAX_THREADS, cpus)
    if n_threads > 1 and len(jobs) > 8:
        with ThreadPoolExecutor(n_threads) as pool:
            return list(pool.map(_render_file, jobs))
    return [_render_file(job) for job in jobs]


def render_demo_images(
    params: list[FundusParameters],
    folder: str | os.PathLike,
    image_size: int = DEFAULT_IMAGE_SIZE,
    *,
    threads: int | None = None,
    layouts: list[FullFieldLayout] | None = None,
    style: str = DEFAULT_STYLE,
    processes: int = 0,
) -> pd.DataFrame:
    """Render and save ``params`` as JPEGs into ``folder/<normal|abnormal>/``.

    layouts, style: for the 'full-field' and 'disc-crop' styles, one layout per image (from
    :func:`fundus_synth.sample_full_field`); the photographs are saved with their camera's
    EXIF, and the table gains where the disc is (``disc_center_x_px``, ``disc_center_y_px``,
    ``disc_diameter_px``), the field, ``width``, ``height`` and the layout's nuisances.
    threads: render in this many threads (default: up to MAX_THREADS).
    processes: render in this many worker processes instead (0 or 1: none). About twice as
        fast as threads on two cores, but the processes are spawned, so a calling script needs
        the ``if __name__ == "__main__":`` guard; the benchmarks' large presets use it.
    The files are the same whichever way they are rendered. Returns the parameters table with
    ``relpath`` (posix, relative to folder), ``bytes`` and ``sha256`` of each file added.
    """
    if style not in STYLES:
        raise DemoDataError(f"unknown demo image style {style!r} (one of {', '.join(STYLES)})")
    if style != "disc" and (layouts is None or len(layouts) != len(params)):
        raise DemoDataError(f"the {style} style needs one layout per image")
    folder = Path(folder)
    for name in CLASS_DIR_NAMES.values():
        (folder / name).mkdir(parents=True, exist_ok=True)
    table = parameters_table(params, image_size)
    relpaths = [f"{CLASS_DIR_NAMES[p.label]}/{name}" for p, name in zip(params, table["file"], strict=True)]
    jobs = [(p, layouts[i] if layouts is not None else None, style, image_size, str(folder / relpaths[i]))
            for i, p in enumerate(params)]
    results = _run_jobs(jobs, threads, processes)
    table["relpath"] = relpaths
    table["bytes"] = [r[0] for r in results]
    table["sha256"] = [r[1] for r in results]
    if style != "disc":
        # the square-side pixel sizes of the demo style do not describe these photographs
        table = table.drop(columns=["disc_radius_px", "cup_radius_px"])
        table = pd.concat([table, pd.DataFrame([r[2] for r in results])], axis=1)
    return table


def generate_demo_dataset(
    out: str | os.PathLike,
    *,
    n_images: int = DEFAULT_N_IMAGES,
    seed: int = DEFAULT_SEED,
    k: int = DEFAULT_K,
    image_size: int = DEFAULT_IMAGE_SIZE,
    home: str | os.PathLike | None = None,
    style: str = DEFAULT_STYLE,
    processes: int = 0,
) -> Path:
    """Generate the demo dataset into ``out`` (created; must be missing or empty).

    out: destination folder; it receives ``fold_01 .. fold_<k>/{train,valid,test}/{normal,abnormal}``
        and ``demo_parameters.csv``.
    n_images: number of unique images (about 46 % glaucoma); seed: makes the output
        byte-for-byte reproducible; k: number of cross-validation folds (each image is in
        exactly one test fold); image_size: side of the square images in pixels.
    home: workbench home whose scan cache the fold maker may use (default as usual).
    style: 'disc' (default, the demo images), 'full-field' (camera-like photographs, image_size
        is their height: 1600-2400 for benchmarks) or 'disc-crop' (disc-centred crops whose
        side varies 0.8-1.25 x image_size and 2-3.5 disc diameters, independently of the label).
    processes: render in this many spawned worker processes (see :func:`render_demo_images`;
        the same files, faster); default 0: threads.
    Each image is written once; the fold folders hold hard links to it (copies where the file
    system has no hard links), so N images in k folds are N x k files but N files' bytes.
    Returns ``out`` as a Path.
    """
    from glaucoma_core.data.folds import FoldsError, make_folds  # the fold maker lives with the data layer

    out = Path(out)
    if k < 2:
        raise DemoDataError(f"{out}: need at least 2 folds, got {k}")
    if n_images < 2 * k:
        raise DemoDataError(f"{out}: need at least {2 * k} images for {k} folds, got {n_images}")
    if style not in STYLES:
        raise DemoDataError(f"{out}: unknown image style {style!r} (one of {', '.join(STYLES)})")
    if image_size < 32:
        raise DemoDataError(f"{out}: image size {image_size} is too small (at least 32 pixels)")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise DemoDataError(f"{out}: already exists and is not an empty folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    # the flat set sits beside ``out`` (same file system, so make_folds can hard-link)
    flat = Path(tempfile.mkdtemp(prefix=f".{out.name}.flat-", dir=out.parent))
    try:
        if style == "disc":
            table = render_demo_images(sample_parameters(n_images, seed), flat, image_size, processes=processes)
        else:
            params, layouts = zip(*sample_full_field(n_images, seed), strict=True)
            # at most two big photographs at a time: memory, not CPU, is the limit at 2000 px
            big = image_size > 1024
            table = render_demo_images(list(params), flat, image_size, threads=2 if big else None,
                                       processes=min(2, processes) if big and processes else processes,
                                       layouts=list(layouts), style=style)
        try:
            make_folds(flat, out, k=k, seed=seed, valid_fraction=0.1, home=home)
        except FoldsError as exc:
            raise DemoDataError(f"{out}: {exc}") from None
    finally:
        shutil.rmtree(flat, ignore_errors=True)
    # file names are unique: with the label they locate each image in every fold
    table = table.drop(columns=["relpath"])
    table.to_csv(out / PARAMETERS_FILE, index=False, lineterminator="\n")
    return out


def _is_complete(folder: Path) -> bool:
    return (folder / PARAMETERS_FILE).is_file()


def _remove_stale_temp_dirs(parent: Path, prefix: str) -> None:
    """Delete temp folders left by generations killed over an hour ago."""
    now = time.time()
    for entry in parent.glob(f"{prefix}*"):
        try:
            if entry.is_dir() and now - entry.stat().st_mtime > _STALE_TEMP_SECONDS:
                shutil.rmtree(entry, ignore_errors=True)
        except OSError:
            continue


def ensure_demo_dataset(home: str | os.PathLike | None = None) -> Path:
    """The demo dataset of the workbench home, generated on first use.

    home: workbench home (default ``$GLAUCOMA_HOME``, else ``models/``).
    Returns ``paths.demo_data_dir(home)`` at once when it is already there. Otherwise the
    dataset is generated (default size and seed) into a hidden sibling folder and renamed into
    place, so a half-written demo dataset is never visible; when two processes race, the first
    rename wins and the other discards its copy.
    """
    target = paths.demo_data_dir(home)
    if _is_complete(target):
        return target
    if target.exists() and not (target.is_dir() and not any(target.iterdir())):
        raise DemoDataError(
            f"{target}: exists but is not a complete demo dataset (no {PARAMETERS_FILE}); "
            "delete it to have it generated again"
        )
    prefix = f".{target.name}.tmp-"
    _remove_stale_temp_dirs(target.parent, prefix)
    work = Path(tempfile.mkdtemp(prefix=prefix, dir=target.parent))
    try:
        built = generate_demo_dataset(work / "data", home=home)
        try:
            os.replace(built, target)  # atomic; fails if another process got there first
        except OSError:
            if not _is_complete(target):
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target


def resolve_data_root(data: str | os.PathLike | None = None, home: str | os.PathLike | None = None) -> Path:
    """The dataset folder to use: ``data`` when given (it must be an existing folder), else the
    demo dataset of ``home`` (generated on first use)."""
    if data is None or str(data).strip() == "":
        return ensure_demo_dataset(home)
    path = Path(data).expanduser()
    if not path.exists():
        raise DemoDataError(f"{path}: no such folder")
    if not path.is_dir():
        raise DemoDataError(f"{path}: is not a folder")
    return path


__all__ = [
    "CAMERAS",
    "DEFAULT_IMAGE_SIZE",
    "DEFAULT_K",
    "DEFAULT_N_IMAGES",
    "DEFAULT_SEED",
    "DEFAULT_STYLE",
    "DemoDataError",
    "PARAMETERS_FILE",
    "ensure_demo_dataset",
    "generate_demo_dataset",
    "image_file_name",
    "parameters_table",
    "render_demo_images",
    "resolve_data_root",
]
