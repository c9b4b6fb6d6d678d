"""Speed settings of the engine: what it turns on per device, none of which changes what a model learns
beyond float rounding (bf16 autocast rounds more, as mixed-precision training always does).

``Accel.for_device`` picks the defaults: on CUDA bf16 autocast, channels_last tensors and fused SGD;
on the CPU nothing (fp32, the layout torch picks). torch.compile is opt-in everywhere (``compile`` is
its mode; "reduce-overhead" replays CUDA graphs): it pays off only when a stack trains long enough to
repay its compile time, which a GPU benchmark has to show. Compiled stacks train one at a time
(``run_jobs`` uses one worker), as compiling is not thread-safe. Every other switch also works on the
CPU, so the tests run the same code path there.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class Accel:
    bf16: bool = False  # autocast the forward pass to bfloat16 (losses and norms stay fp32)
    channels_last: bool = False  # NHWC weights, hence NHWC convolutions and activations
    fused_sgd: bool = False  # one fused kernel for the optimizer step
    compile: str | None = None  # a torch.compile mode ("default", "reduce-overhead", "max-autotune")

    @classmethod
    def for_device(cls, device: torch.device) -> Accel:
        if device.type == "cuda":
            return cls(bf16=True, channels_last=True, fused_sgd=True)
        return cls()

    def prepare(self, stack: nn.Module) -> nn.Module:
        """The stack to train: in place in channels_last, wrapped by torch.compile when asked."""
        if self.channels_last:
            stack = stack.to(memory_format=torch.channels_last)
        if self.compile:  # fixed shapes: the last, smaller batch and evaluation compile once more each
            stack = torch.compile(stack, mode=self.compile, dynamic=False)  # type: ignore[assignment]
        return stack

    def autocast(self, device: torch.device) -> contextlib.AbstractContextManager:
        """bf16 autocast on ``device`` when enabled, otherwise a context that does nothing."""
        if not self.bf16:
            return contextlib.nullcontext()
        return torch.autocast(device.type, dtype=torch.bfloat16)

    def optimizer(self, stack: nn.Module, lr: float, momentum: float, weight_decay: float) -> torch.optim.SGD:
        return torch.optim.SGD(stack.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay,
                               fused=True if self.fused_sgd else None)
