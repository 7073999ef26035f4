"""A labelled grid of a run's most confident elites (the README's ImageNet picture).

    python scripts/top_elites.py runs/imagenet-cppn-1000 --count 20 --out docs/imagenet-cppn-top20.png

Reads the run folder only: elites/*.json for confidences, elites/*.png for the pictures.
"""
import argparse
import sys
from pathlib import Path

from PIL import Image

from evodream.errors import EvodreamError
from evodream.images import labelled_grid
from evodream.runs import RunFolder


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run")
    parser.add_argument("--count", type=int, default=20)
    parser.add_argument("--columns", type=int, default=5)
    parser.add_argument("--tile", type=int, default=160)
    parser.add_argument("--out", required=True, help="PNG to write (must not exist)")
    args = parser.parse_args()
    try:
        run = RunFolder.open(args.run)
        out = Path(args.out)
        if out.exists():
            raise EvodreamError(f"{out} exists: choose another --out")
        records = sorted(run.elite_records(), key=lambda r: -r["confidence"])[:args.count]
        if not records:
            raise EvodreamError(f"{run.path} has no elites yet")
        pictures = [Image.open(run.elite_stem(r["class_index"], r["class_name"]).with_suffix(".png"))
                    for r in records]
        labels = [f"{r['class_name']}\n{r['confidence'] * 100:.2f}%" for r in records]
        labelled_grid(pictures, labels, columns=args.columns, tile=args.tile).save(out)
    except EvodreamError as exc:
        print(f"top_elites: error: {exc}", file=sys.stderr)
        return 2
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
