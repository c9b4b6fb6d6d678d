"""What every augmentation's draw shares: tensors of random numbers, one row per image, joined per stack."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields, replace
from typing import Self

import torch
from torch import Tensor


class TensorDraw:
    """Base of a frozen dataclass whose tensor fields have one row per image. ``cat`` joins the draws
    of a stack's models field by field (other fields come from the first draw); ``to`` moves every
    tensor to the device, from the CPU to CUDA through pinned memory, queued without waiting."""

    def tensors(self) -> dict[str, Tensor]:
        values = {f.name: getattr(self, f.name) for f in fields(self)}  # type: ignore[arg-type]
        return {name: value for name, value in values.items() if isinstance(value, Tensor)}

    @classmethod
    def cat(cls, draws: Sequence[Self]) -> Self:
        """Several draws (one per model of a stack, say) one after another."""
        joined = {name: torch.cat([d.tensors()[name] for d in draws]) for name in draws[0].tensors()}
        return replace(draws[0], **joined)  # type: ignore[type-var]

    def to(self, device: torch.device) -> Self:
        if device.type == "cpu":
            return self
        moved = {name: t.pin_memory().to(device, non_blocking=True) for name, t in self.tensors().items()}
        return replace(self, **moved)  # type: ignore[type-var]
