"""In-memory datasets: normalized image tensors with labels, and the train/val/test splits."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor


@dataclass(frozen=True)
class TensorSet:
    """Images (float32, N x C x H x W, normalized) with int64 labels in ``range(num_classes)``."""

    images: Tensor
    labels: Tensor
    num_classes: int

    def __post_init__(self) -> None:
        if self.images.ndim != 4 or self.labels.shape != (self.images.shape[0],):
            raise ValueError(f"images {tuple(self.images.shape)} and labels {tuple(self.labels.shape)} "
                             "do not make a N x C x H x W set")

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    @property
    def shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one image."""
        return tuple(self.images.shape[1:])  # type: ignore[return-value]

    @property
    def device(self) -> torch.device:
        return self.images.device

    def to(self, device: torch.device | str) -> TensorSet:
        return TensorSet(self.images.to(device), self.labels.to(device), self.num_classes)

    def subset(self, index: Tensor) -> TensorSet:
        return TensorSet(self.images[index], self.labels[index], self.num_classes)

    def class_indices(self, label: int) -> Tensor:
        return torch.nonzero(self.labels == label).flatten()

    def fingerprint(self) -> str:
        """A short content hash (sha256 of the image and label bytes)."""
        h = hashlib.sha256()
        h.update(self.images.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
        h.update(self.labels.detach().to("cpu", torch.int64).contiguous().numpy().tobytes())
        return h.hexdigest()[:16]


@dataclass(frozen=True)
class DatasetSplits:
    """A dataset ready for NAS: a training split, a held-out validation split and the test set."""

    name: str
    train: TensorSet
    val: TensorSet
    test: TensorSet
    classes: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    source: Path | None = None  # the folder its files were read from (the fingerprint cache stats them)
    split_key: str = ""  # how the validation split was drawn, e.g. 'val=0.1,seed=0'

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.train.shape
