"""A harden hook for an ImageNet network — the paper's second retraining experiment (1,001 classes).

Not run here: it needs ImageNet's training images, which are not available offline. With them::

    export IMAGENET_DIR=/data/imagenet            # ILSVRC-2012 in ImageFolder layout: train/ and val/
    export RESNET18_WEIGHTS=~/resnet18-f37072fd.pth  # torchvision's ImageNet state dict for resnet18
    cd examples
    evodream harden --model harden_imagenet:resnet18 --device cuda --threads 8 \
        --images-per-class 1 --held-out-runs 0 --max-evals 20000 --budget 5000 --epochs 1 --rounds 1 \
        --out runs/harden-imagenet

Round 0 evolves one image per class (1,000 classes, one run per seed: the cost is in the runs, so
keep --images-per-class small). Round 1 trains a fresh 1,001-class resnet18 on ImageNet plus those
images as class "fooling" with harden's recipe (Adam, --epochs, --lr, --batch-size); a network that
good needs a GPU and more epochs than MNIST's 15 minutes suggest — budget days, as the paper did. The
images are read through ImageFolder one at a time, so nothing is held in memory; harden calls this
hook again whenever it loads a round's network, which only lists the folders.
"""
import os
from pathlib import Path

import torch
import torchvision
from torch import nn
from torchvision import transforms
from torchvision.datasets import ImageFolder

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


class Normalised(nn.Module):
    """evodream hands networks [0, 1] images; torchvision's ImageNet models expect normalised ones."""

    def __init__(self, net: nn.Module, class_names):
        super().__init__()
        self.net = net
        self.class_names = list(class_names)  # read by harden in round 0 only
        self.register_buffer("mean", torch.tensor(MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(STD).view(1, 3, 1, 1))

    def forward(self, x):
        return self.net((x - self.mean) / self.std)


def resnet18(num_classes=None):
    root = Path(os.environ.get("IMAGENET_DIR", "imagenet"))
    crop = transforms.Compose([transforms.Resize(256), transforms.CenterCrop(224), transforms.ToTensor()])
    train, held_out = ImageFolder(root / "train", crop), ImageFolder(root / "val", crop)
    if num_classes is None:  # round 0: the trained network
        net = torchvision.models.resnet18()
        net.load_state_dict(torch.load(os.environ["RESNET18_WEIGHTS"], map_location="cpu", weights_only=True))
    else:  # later rounds: a fresh network with the fooling class as its last output
        net = torchvision.models.resnet18(num_classes=num_classes)
    # WordNet ids as class names (harden names the added class "fooling"); --classes FILE for readable ones.
    return Normalised(net, train.classes), train, held_out
