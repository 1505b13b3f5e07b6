"""Dataset formats by name: how a source of each format is checked, read and sized.

The one place that dispatches on a source's ``format`` (``src/twolayer/data/sources.yaml``
and a config's ``datasets:``); the schema's enum of formats is tested against it.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import InputError
from .cifar import load_cifar_binary
from .idx import load_idx_dataset


@dataclass(frozen=True)
class Format:
    name: str
    downloaded: bool  # archives to fetch and verify; otherwise generated from a seed
    load: object  # (raw_dir, source) -> {"train": (X, y), "test": (X, y)}; None when generated
    examples: int  # train + test examples of a dataset of this format (memory estimates)
    required_files: tuple = ()  # the roles (files: keys) a source must name
    needs_members: bool = False  # an archive whose members (train/test lists) the source names


FORMATS = {
    f.name: f
    for f in (
        Format("idx", True, load_idx_dataset, 70_000, required_files=("train_images", "train_labels", "test_images", "test_labels")),
        Format("cifar_binary", True, load_cifar_binary, 60_000, needs_members=True),
        Format("generated", False, None, 10_000),
    )
}


def get_format(name):
    try:
        return FORMATS[name]
    except KeyError:
        raise InputError(f"unknown dataset format {name!r}; formats are: {', '.join(FORMATS)}") from None
