"""Random real images per class, drawn on the device, and the starting point of a synthetic set."""

from __future__ import annotations

import torch
from torch import Tensor

from proxynas.datasets.base import TensorSet
from proxynas.errors import ProxynasError

INITS = ("real", "noise")


class RealSampler:
    """Draws up to ``n`` images of every class at once, without replacement within a class.

    The training set is sorted by class once; a draw is one sort of random keys (class + uniform), so
    each class block comes out shuffled in place, and the first ``n`` of every block are taken. All of
    it stays on the device.
    """

    def __init__(self, train: TensorSet) -> None:
        order = torch.argsort(train.labels, stable=True)
        self.images = train.images[order]
        self.labels = train.labels[order]
        self.num_classes = train.num_classes
        self.counts: list[int] = torch.bincount(train.labels, minlength=train.num_classes).tolist()
        self.starts: list[int] = [sum(self.counts[:c]) for c in range(self.num_classes)]
        self._heads: dict[int, Tensor] = {}
        self._sizes: dict[int, Tensor] = {}

    @property
    def device(self) -> torch.device:
        return self.images.device

    def batch_sizes(self, n: int) -> list[int]:
        """How many images a draw of ``n`` per class gives each class (fewer where a class is small)."""
        return [min(n, count) for count in self.counts]

    def batch_size_tensor(self, n: int) -> Tensor:
        """:meth:`batch_sizes` as a tensor on the device (cached: no copy in the loop)."""
        if n not in self._sizes:
            self._sizes[n] = torch.tensor(self.batch_sizes(n), device=self.device)
        return self._sizes[n]

    def sample(self, n: int, generator: torch.Generator | None) -> tuple[Tensor, Tensor]:
        """Up to ``n`` random images of each class, sorted by class, with their labels."""
        keys = self.labels.double() + torch.rand(len(self.labels), generator=generator, device=self.device,
                                                 dtype=torch.float64)
        shuffled = torch.argsort(keys)
        picked = shuffled[self._block_heads(n)]
        return self.images[picked], self.labels[picked]

    def _block_heads(self, n: int) -> Tensor:
        """Positions of the first ``n`` images of every class block (cached per ``n``)."""
        if n not in self._heads:
            sizes = self.batch_sizes(n)
            heads = [torch.arange(s, s + size) for s, size in zip(self.starts, sizes, strict=True)]
            self._heads[n] = torch.cat(heads).to(self.device)
        return self._heads[n]

    def require(self, n: int) -> None:
        """Raise unless every class has at least ``n`` images."""
        for label, count in enumerate(self.counts):
            if count < n:
                raise ProxynasError(f"class {label} has {count} training images, fewer than ipc {n}",
                                    f"use --ipc {count} or less")


def initial_images(real: RealSampler, ipc: int, init: str, generator: torch.Generator | None) -> Tensor:
    """``ipc`` starting images per class, sorted by class: random real ones, or Gaussian noise."""
    if init not in INITS:
        raise ProxynasError(f"unknown init '{init}'", f"choose one of {', '.join(INITS)}")
    real.require(ipc)
    if init == "real":
        return real.sample(ipc, generator)[0].clone()
    shape = (real.num_classes * ipc, *real.images.shape[1:])
    # drawn in float32 whatever the training set's dtype (the same noise for a float64 set), then cast
    return torch.randn(shape, generator=generator, device=real.device).to(real.images.dtype)


def class_labels(num_classes: int, ipc: int, device: torch.device) -> Tensor:
    """``[0] * ipc + [1] * ipc + ...``: the labels of a synthetic set sorted by class."""
    return torch.arange(num_classes, device=device).repeat_interleave(ipc)
