"""Deterministic stratified hold-out splits (validation from train; digits' test set)."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from proxynas.errors import ProxynasError


def holdout_count(size: int | float, n: int, what: str = "val_size") -> int:
    """``size`` as a number of items out of ``n``: a count in ``0..n-1`` or a fraction in ``[0, 1)``."""
    if isinstance(size, bool) or not isinstance(size, int | float):
        raise ProxynasError(f"{what} {size!r} is not a number",
                            f"give a count in 0..{n - 1} or a fraction in [0, 1)")
    if isinstance(size, float):
        if not 0.0 <= size < 1.0:
            raise ProxynasError(f"{what} {size} is not a fraction in [0, 1)", "give e.g. 0.1 or a count")
        size = math.floor(size * n + 0.5)  # half up
    if not 0 <= size < n:
        raise ProxynasError(f"{what} {size} does not leave a training set out of {n} items",
                            f"give a count in 0..{n - 1} or a fraction in [0, 1)")
    return size


def per_class_counts(class_sizes: Tensor, total: int) -> Tensor:
    """Share ``total`` over classes in proportion to their sizes (largest remainder; ties: lower class)."""
    n = int(class_sizes.sum())
    base = class_sizes * total // n
    remainder = class_sizes * total % n
    extra = total - int(base.sum())
    order = sorted(range(len(class_sizes)), key=lambda c: (-int(remainder[c]), c))
    base[order[:extra]] += 1
    return base


def stratified_split(labels: Tensor, size: int | float, seed: int) -> tuple[Tensor, Tensor]:
    """Indices ``(kept, held)`` with ``size`` items held out, each class in proportion, both sorted.

    Deterministic: the same labels, size and seed always give the same split (a ``torch.Generator``
    seeded with ``seed``; never the clock).
    """
    labels = torch.as_tensor(labels, device="cpu").long()
    count = holdout_count(size, len(labels))
    generator = torch.Generator().manual_seed(seed)
    classes, sizes = torch.unique(labels, return_counts=True)
    held = []
    for label, k in zip(classes.tolist(), per_class_counts(sizes, count).tolist(), strict=True):
        members = torch.nonzero(labels == label).flatten()
        held.append(members[torch.randperm(len(members), generator=generator)[:k]])
    mask = torch.zeros(len(labels), dtype=torch.bool)
    mask[torch.cat(held)] = True
    return torch.nonzero(~mask).flatten(), torch.nonzero(mask).flatten()
