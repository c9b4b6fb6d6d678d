"""Training-time augmentation by name: ``make_augment("dsa", dataset_info("cifar10"))``.

An augmentation is a callable ``(images N x C x H x W, generator) -> images``, as the engine's ``fit``
takes it. ``"none"`` is no augmentation (``None``); ``"dsa"`` is differentiable siamese augmentation
with the reference strategy, without flips for datasets where a mirror image changes the meaning.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from proxynas.augment.dsa import DSA, FAMILIES, REFERENCE_STRATEGY, Draw, DSAParams
from proxynas.registry import Registry

Augment = Callable[[Tensor, torch.Generator | None], Tensor]

AUGMENTS: Registry[Callable[[Any], Augment | None]] = Registry("augmentation")
AUGMENTS.register("none", lambda info: None)
AUGMENTS.register("dsa", lambda info: dsa_for(info))


def dsa_strategy(flip_ok: bool) -> str:
    """The reference strategy, less ``flip`` where flipping is wrong (digits, MNIST, SVHN)."""
    if flip_ok:
        return REFERENCE_STRATEGY
    return "_".join(f for f in REFERENCE_STRATEGY.split("_") if f != "flip")


def dsa_for(dataset_info: Any) -> DSA:
    """DSA for a dataset (a ``DatasetInfo``: only ``flip_ok`` is read)."""
    return DSA(dsa_strategy(dataset_info.flip_ok))


def make_augment(name: str, dataset_info: Any) -> Augment | None:
    """The augmentation called ``name`` for a dataset; ``None`` for ``"none"``."""
    return AUGMENTS.get(name)(dataset_info)


__all__ = ["AUGMENTS", "DSA", "FAMILIES", "REFERENCE_STRATEGY", "Augment", "DSAParams", "Draw", "dsa_for",
           "dsa_strategy", "make_augment"]
