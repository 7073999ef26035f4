"""The ImageNet-1k class names in index order (as torchvision's weights list them), and each class's
WordNet words, from files shipped with evodream: importing torchvision for the names cost 2-3 s of
every ImageNet command, and the words let a user ask for 'Pembroke Welsh corgi' or 'tabby cat'."""
from __future__ import annotations

from functools import lru_cache
from importlib import resources

from ..errors import EvodreamError

CLASSES_FILE = "imagenet_classes.txt"
SYNONYMS_FILE = "imagenet_synonyms.txt"  # per class: WordNet id, tab, its words (WORDNET_LICENSE.txt)
N_CLASSES = 1000


def _lines(filename: str) -> list[str]:
    try:
        text = resources.files(__package__).joinpath(filename).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise EvodreamError(f"evodream/classifiers/{filename} is missing: reinstall evodream") from None
    lines = text.splitlines()
    if len(lines) != N_CLASSES:
        raise EvodreamError(f"evodream/classifiers/{filename} lists {len(lines)} classes, not "
                            f"{N_CLASSES}: reinstall evodream")
    return lines


@lru_cache(maxsize=1)
def imagenet_class_names() -> tuple[str, ...]:
    return tuple(_lines(CLASSES_FILE))


@lru_cache(maxsize=1)
def imagenet_synonyms() -> tuple[tuple[str, ...], ...]:
    """Each class's WordNet words in class order, e.g. ('Pembroke', 'Pembroke Welsh corgi')."""
    rows = [line.split("\t") for line in _lines(SYNONYMS_FILE)]
    if any(len(row) != 2 for row in rows):
        raise EvodreamError(f"evodream/classifiers/{SYNONYMS_FILE} is damaged: reinstall evodream")
    return tuple(tuple(word.strip() for word in words.split(",")) for _, words in rows)


def synonyms_for(class_names) -> tuple[tuple[str, ...], ...] | None:
    """The WordNet words of each class when `class_names` are ImageNet-1k's (as for every model
    trained on it here), else None."""
    if len(class_names) != N_CLASSES or tuple(class_names) != imagenet_class_names():
        return None
    return imagenet_synonyms()
