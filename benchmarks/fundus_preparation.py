"""Fundus preparation: disc localisation on synthetic full-field photographs, cost per step.

    python benchmarks/fundus_preparation.py [--images 60] [--height 256] [--seed 7] [--timing-height 2000]

Localisation: median error in disc diameters, the share within one diameter, and the
estimated over true disc diameter (median, 5-95 %) on a
fixed-seed set of full-field photographs (about 60 % with exudate-like spots brighter than the
disc, 60 % with edge reflections, uneven illumination). Cost: seconds per image of each step
of ``prepare_image`` (auto disc crop + CLAHE) on camera-sized JPEGs, and of a plain decode.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from glaucoma_core.data.fundus_synth import encode_camera_jpeg, render_full_field, sample_full_field  # noqa: E402
from glaucoma_core.data.images import load_rgb_array  # noqa: E402
from glaucoma_core.preparation import PreparationSettings, prepare_image  # noqa: E402
from glaucoma_core.preparation.field_of_view import find_field  # noqa: E402
from glaucoma_core.preparation.optic_disc import locate_disc  # noqa: E402


def localisation(n: int, height: int, seed: int) -> dict:
    errors, sizes, shares = [], [], []
    for p, layout in sample_full_field(n, seed, spot_probability=0.6, reflection_probability=0.6):
        image, truth = render_full_field(p, layout, height)
        disc = locate_disc(image, find_field(image))
        d = truth["disc_diameter_px"]
        errors.append(float(np.hypot(disc.center_x - truth["disc_center_x_px"], disc.center_y - truth["disc_center_y_px"]) / d))
        sizes.append(disc.diameter / d)
        shares.append(disc.ratio)
    errors = np.array(errors)
    return {"images": n, "median_error_dd": round(float(np.median(errors)), 3),
            "within_one_dd": round(float((errors <= 1).mean()), 3),
            "p90_error_dd": round(float(np.percentile(errors, 90)), 3),
            "median_diameter_ratio": round(float(np.median(sizes)), 3),
            "diameter_ratio_5_95": [round(float(np.percentile(sizes, q)), 3) for q in (5, 95)],
            "max_disc_share_of_field": round(float(max(shares)), 3)}


def costs(n: int, height: int, seed: int, size: int = 224) -> dict:
    settings = PreparationSettings(disc_crop="auto", illumination="clahe")
    steps: dict[str, list[float]] = {}
    plain = []
    for p, layout in sample_full_field(n, seed + 1):
        image, _ = render_full_field(p, layout, height)
        data = encode_camera_jpeg(image, p.camera, p.index)
        t = time.perf_counter()
        load_rgb_array(io.BytesIO(data), size)
        plain.append(time.perf_counter() - t)
        t = time.perf_counter()
        record = prepare_image(data, size, settings).record
        steps.setdefault("total", []).append(time.perf_counter() - t)
        for step, seconds in record["seconds"].items():
            steps.setdefault(step, []).append(seconds)
    out = {f"{k}_ms": round(1000 * statistics.median(v), 1) for k, v in steps.items()}
    out["plain_decode_resize_ms"] = round(1000 * statistics.median(plain), 1)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=60)
    parser.add_argument("--height", type=int, default=256)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--timing-images", type=int, default=5)
    parser.add_argument("--timing-height", type=int, default=2000)
    args = parser.parse_args()
    print("localisation", localisation(args.images, args.height, args.seed), flush=True)
    print(f"cost per image at {args.timing_height} px (median)", costs(args.timing_images, args.timing_height, args.seed))


if __name__ == "__main__":
    main()
