"""What proxynas knows about each dataset (no file I/O) and how to read its files."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from proxynas.registry import Registry


@dataclass(frozen=True)
class DatasetInfo:
    """Static facts about a dataset: image shape (C, H, W), classes, normalization, augmentation."""

    name: str
    shape: tuple[int, int, int]
    num_classes: int
    classes: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    flip_ok: bool
    default_val_size: int | float = 0.1

    def __post_init__(self) -> None:
        if len(self.classes) != self.num_classes:
            raise ValueError(f"{self.name}: {len(self.classes)} class names for {self.num_classes} classes")
        if not len(self.mean) == len(self.std) == self.shape[0]:
            raise ValueError(f"{self.name}: mean/std need one value per channel")


@dataclass(frozen=True)
class RawData:
    """Arrays as read from disk: images N x C x H x W with values in ``[0, max_value]``, integer labels.

    ``test_*`` is None when the dataset has no official test set; ``classes`` is None when the files
    carry no class names (then :class:`DatasetInfo`'s are used); ``source`` is the folder read.
    """

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray | None = None
    test_labels: np.ndarray | None = None
    classes: tuple[str, ...] | None = None
    max_value: float = 255.0
    source: Path | None = None


Reader = Callable[[Path], RawData]
# writes a few images per class in the dataset's on-disk layout under a folder, as the reader finds them,
# and returns what it wrote as the reader returns it (the dataset contract test reads it back)
SampleWriter = Callable[[Path, np.random.Generator], RawData]


@dataclass(frozen=True)
class DatasetEntry:
    info: DatasetInfo
    read: Reader
    sample: SampleWriter | None = None  # None: the dataset has no files to write (digits: embedded)


DATASETS: Registry[DatasetEntry] = Registry("dataset", builtins=("proxynas.datasets.*",), group="proxynas.datasets")


def register_dataset(info: DatasetInfo, *, sample: SampleWriter | None = None) -> Callable[[Reader], Reader]:
    """``@register_dataset(DatasetInfo(...), sample=write)`` on the function that reads the dataset's files
    under a root folder; ``sample`` writes a small set of files in that layout (:data:`SampleWriter`)."""

    def add(read: Reader) -> Reader:
        DATASETS.register(info.name)(DatasetEntry(info, read, sample))
        return read

    return add


def list_datasets() -> list[str]:
    """Names of all datasets, sorted."""
    return DATASETS.names()


def dataset_info(name: str) -> DatasetInfo:
    """Static facts about ``name``; unknown names raise :class:`UnknownNameError`."""
    return DATASETS.get(name).info


def sample_arrays(rng: np.random.Generator, n: int, shape: tuple[int, int, int],
                  num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` random uint8 images (N, C, H, W) and labels cycling through the classes (for sample writers)."""
    return rng.integers(0, 256, (n, *shape), dtype=np.uint8), np.arange(n, dtype=np.int64) % num_classes


DIGIT_CLASSES: tuple[str, ...] = tuple(str(d) for d in range(10))
