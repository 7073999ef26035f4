"""A labelled grid of the most confident elites of one run or several (the README's ImageNet pictures).

    python scripts/top_elites.py runs/imagenet-cppn-1000 --count 20 --out docs/imagenet-cppn-top20.png
    python scripts/top_elites.py runs/efficiency/b/spectral-cma/*/ --found-at --tile 96 --colours 128 \
        --out docs/imagenet-spectral-cma-20.png

Reads the run folders only: elites/*.json for confidences, elites/*.png for the pictures. With
several runs (e.g. one per class) the elites of all of them are ranked together.
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
    parser.add_argument("runs", nargs="+", metavar="RUN")
    parser.add_argument("--count", type=int, default=20)
    parser.add_argument("--columns", type=int, default=5)
    parser.add_argument("--tile", type=int, default=160)
    parser.add_argument("--out", required=True, help="PNG to write (must not exist)")
    parser.add_argument("--found-at", action="store_true",
                        help="caption each picture with the evaluations it took to be found")
    parser.add_argument("--colours", type=int, default=None,
                        help="quantise to this many colours (a small PNG for a README; noise-like "
                             "pictures barely change at 128)")
    args = parser.parse_args()
    try:
        if args.colours is not None and not 2 <= args.colours <= 256:
            raise EvodreamError(f"--colours is {args.colours}; use 2 to 256")
        out = Path(args.out)
        if out.exists():
            raise EvodreamError(f"{out} exists: choose another --out")
        elites = [(run, record) for run in map(RunFolder.open, args.runs) for record in run.elite_records()]
        elites = sorted(elites, key=lambda pair: -pair[1]["confidence"])[:args.count]
        if not elites:
            raise EvodreamError(f"{', '.join(args.runs)}: no elites yet")
        pictures = [Image.open(run.elite_stem(r["class_index"], r["class_name"]).with_suffix(".png"))
                    for run, r in elites]
        labels = [f"{r['class_name']}\n{r['confidence'] * 100:.2f}%"
                  + (f" at {r['found_at_evaluation']:,}" if args.found_at else "") for _, r in elites]
        grid = labelled_grid(pictures, labels, columns=args.columns, tile=args.tile)
        if args.colours is not None:
            grid = grid.convert("RGB").quantize(colors=args.colours)
        grid.save(out, optimize=True)
    except EvodreamError as exc:
        print(f"top_elites: error: {exc}", file=sys.stderr)
        return 2
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
