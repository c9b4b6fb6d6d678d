"""Training-time augmentation by name: ``make_augment("dsa", dataset_info("cifar10"))``.

An augmentation is an :class:`Augment`, as the engine's ``fit`` takes it: the random numbers of one
model's batch are drawn on the CPU from that model's own generator (``draw_batch``), the draws of a
stack's models are joined (:func:`join_draws`) and applied to the whole stack's batch at once (``apply``).
So a model sees in a stack exactly what it sees alone, and the draws do not depend on the device.
``"none"`` is no augmentation (``None``); ``"dsa"`` is differentiable siamese augmentation with the
reference strategy, without flips for datasets where a mirror image changes the meaning;
``"crop_scale_rotate"`` is the DC reference's evaluation augmentation for MNIST (one of crop, scale or
rotate per image, :mod:`proxynas.augment.crop_scale_rotate`); ``"idc"`` is IDC's evaluation chain
(:mod:`proxynas.augment.idc`) without cutout (IDC trains with CutMix), ``"idc_cutout"`` with it.
"""

from __future__ import annotations

import typing
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import torch
from torch import Tensor

from proxynas.augment.crop_scale_rotate import CropScaleRotate, CropScaleRotateDraw, CropScaleRotateParams
from proxynas.augment.dsa import DSA, FAMILIES, REFERENCE_STRATEGY, Draw, DSAParams
from proxynas.augment.idc import IDCAugment
from proxynas.datasets.registry import DatasetInfo
from proxynas.registry import Registry


class AugmentDraw(typing.Protocol):
    """The random numbers of some images (``Draw`` for DSA, ``CutMixDraw`` for CutMix): joined per
    stack, moved to the device."""

    @classmethod
    def cat(cls, draws: Sequence[Any]) -> AugmentDraw: ...

    def to(self, device: torch.device) -> AugmentDraw: ...


class Augment(typing.Protocol):
    """A training-time augmentation the engine can draw per model and apply per stack."""

    def draw_batch(self, count: int, size: Sequence[int], generator: torch.Generator) -> Any:
        """The transforms of ``count`` images of ``size`` (H, W), drawn on the CPU from ``generator``: an
        :class:`AugmentDraw` of the augmentation's own kind."""
        ...

    def apply(self, x: Tensor, draw: Any) -> Tensor:
        """``x`` (N, C, H, W) transformed image by image by ``draw`` (of N transforms)."""
        ...


D = TypeVar("D", bound=AugmentDraw)


def join_draws(draws: Sequence[D]) -> D:
    """The draws of a stack's models, one after another (``cat`` of their own kind)."""
    return type(draws[0]).cat(draws)


AUGMENTS: Registry[Callable[[DatasetInfo], Augment | None]] = Registry(
    "augmentation", builtins=("proxynas.augment.*",), group="proxynas.augmentations")
register_augment = AUGMENTS.register  # ``@register_augment("name")`` on a ``(DatasetInfo) -> Augment | None``


@AUGMENTS.register("none")
def no_augment(dataset_info: DatasetInfo) -> Augment | None:
    return None


@AUGMENTS.register("dsa")
def dsa_augment(dataset_info: DatasetInfo) -> Augment | None:
    return dsa_for(dataset_info)


@AUGMENTS.register("crop_scale_rotate")
def crop_scale_rotate_augment(dataset_info: DatasetInfo) -> Augment | None:
    return CropScaleRotate()


@AUGMENTS.register("idc")
def idc_augment(dataset_info: DatasetInfo) -> Augment | None:
    """IDC's evaluation chain as it trains with CutMix: no cutout."""
    return IDCAugment(idc_strategy(dataset_info.flip_ok, cutout=False))


@AUGMENTS.register("idc_cutout")
def idc_cutout_augment(dataset_info: DatasetInfo) -> Augment | None:
    """IDC's evaluation chain without CutMix (a set test.py trains plainly): cutout kept."""
    return IDCAugment(idc_strategy(dataset_info.flip_ok, cutout=True))


def dsa_strategy(flip_ok: bool) -> str:
    """The reference strategy, less ``flip`` where flipping is wrong (digits, MNIST, SVHN)."""
    if flip_ok:
        return REFERENCE_STRATEGY
    return "_".join(f for f in REFERENCE_STRATEGY.split("_") if f != "flip")


def idc_strategy(flip_ok: bool, *, cutout: bool) -> str:
    """IDC's evaluation strategy (argument.py): the reference strategy less flip where flipping is
    wrong, less cutout when the batches are CutMixed (``remove_aug(dsa_strategy, 'cutout')``)."""
    return "_".join(f for f in dsa_strategy(flip_ok).split("_") if cutout or f != "cutout")


def dsa_for(dataset_info: DatasetInfo) -> DSA:
    """DSA for a dataset (a ``DatasetInfo``: only ``flip_ok`` is read)."""
    return DSA(dsa_strategy(dataset_info.flip_ok))


def make_augment(name: str, dataset_info: DatasetInfo) -> Augment | None:
    """The augmentation called ``name`` for a dataset; ``None`` for ``"none"``."""
    return AUGMENTS.get(name)(dataset_info)


__all__ = ["AUGMENTS", "DSA", "FAMILIES", "REFERENCE_STRATEGY", "Augment", "AugmentDraw", "CropScaleRotate",
           "CropScaleRotateDraw", "CropScaleRotateParams", "DSAParams", "Draw", "IDCAugment", "dsa_for",
           "dsa_strategy", "idc_strategy", "join_draws", "make_augment", "register_augment"]
