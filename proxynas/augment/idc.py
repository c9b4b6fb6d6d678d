"""IDC's augmentation chain (``DiffAug`` of snu-mllab/Efficient-Dataset-Condensation ``misc/augment.py``).

It differs from DSA's one family per call: flip and color are applied whenever the strategy names them,
then one of the other named families (crop, scale, rotate; picked once per batch), then cutout. IDC
uses it with one draw for a whole batch (``batch=True``: :meth:`IDCAugment.shared`, the real and
synthetic images of a class matched together) and with a draw per image (``batch=False``:
:meth:`IDCAugment.per_image`, network updates and IDC's evaluation). The families and their strengths
are DSA's (the reference's values are the same).

A draw (:class:`IDCDraw`) is separate from its application, as for DSA, so the engine can draw each
model's batch from that model's generator and apply a stack's joined draws at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from proxynas.augment.dsa import DSA, Draw

BEFORE = ("flip", "color")  # applied first, in this order, when named
AFTER = ("cutout",)  # applied last, when named


@dataclass(frozen=True)
class IDCDraw:
    """The draws of the chain's stages, in order (each a DSA ``Draw`` of ``count`` transforms)."""

    stages: tuple[Draw, ...]

    @property
    def count(self) -> int:
        return self.stages[0].count if self.stages else 0

    @classmethod
    def cat(cls, draws: Sequence[IDCDraw]) -> IDCDraw:
        """Several draws (one per model of a stack) one after another."""
        return cls(tuple(Draw.cat(stage) for stage in zip(*(d.stages for d in draws), strict=True)))

    def to(self, device: torch.device) -> IDCDraw:
        return IDCDraw(tuple(d.to(device) for d in self.stages))


class IDCAugment:
    """IDC's chain for ``strategy`` (``_``-separated DSA families; ``none`` or empty: no augmentation)."""

    def __init__(self, strategy: str) -> None:
        names = [f for f in strategy.split("_") if f and f != "none"]
        self.strategy = strategy
        middle = [f for f in names if f not in BEFORE + AFTER]
        self.stages = ([DSA(f) for f in BEFORE if f in names] + ([DSA("_".join(middle))] if middle else [])
                       + [DSA(f) for f in AFTER if f in names])
        self.middle = len([f for f in BEFORE if f in names]) if middle else None  # its index in stages

    def __repr__(self) -> str:
        return f"IDCAugment('{self.strategy}')"

    def draw(self, count: int, size: Sequence[int], generator: torch.Generator | None,
             device: torch.device) -> IDCDraw:
        """One batch: ``count`` transforms (1: shared by the batch), one middle family for all of them."""
        draws = []
        for k, stage in enumerate(self.stages):
            d = stage.draw(count, size, generator, device)
            draws.append(d.share_family() if k == self.middle else d)
        return IDCDraw(tuple(draws))

    def draw_batch(self, count: int, size: Sequence[int], generator: torch.Generator) -> IDCDraw:
        """A training batch's draws on the CPU, one per image (the engine draws one batch per model)."""
        return self.draw(count, size, generator, torch.device("cpu"))

    def apply(self, x: Tensor, draw: IDCDraw) -> Tensor:
        for stage, d in zip(self.stages, draw.stages, strict=True):
            x = stage.apply(x, d)
        return x

    def shared(self, x: Tensor, generator: torch.Generator | None) -> Tensor:
        """One random transform for the whole batch (``batch=True``)."""
        return self.apply(x, self.draw(1, x.shape[-2:], generator, x.device))

    def per_image(self, x: Tensor, generator: torch.Generator | None) -> Tensor:
        """A random transform for every image (``batch=False``)."""
        return self.apply(x, self.draw(x.shape[0], x.shape[-2:], generator, x.device))
