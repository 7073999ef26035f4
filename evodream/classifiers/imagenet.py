"""The ImageNet-1k class names in index order (as torchvision's weights list them), from a file
shipped with evodream: importing torchvision for them cost 2-3 s of every ImageNet command."""
from __future__ import annotations

from functools import lru_cache
from importlib import resources

from ..errors import EvodreamError

CLASSES_FILE = "imagenet_classes.txt"
N_CLASSES = 1000


@lru_cache(maxsize=1)
def imagenet_class_names() -> tuple[str, ...]:
    try:
        text = resources.files(__package__).joinpath(CLASSES_FILE).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise EvodreamError(f"evodream/classifiers/{CLASSES_FILE} is missing: reinstall evodream") from None
    names = tuple(text.splitlines())
    if len(names) != N_CLASSES:
        raise EvodreamError(f"evodream/classifiers/{CLASSES_FILE} lists {len(names)} classes, not "
                            f"{N_CLASSES}: reinstall evodream")
    return names
