"""A *stack* is G independent models run as one module.

Input ``(G, B, C, H, W)`` -- model g sees its own batch ``x[g]`` -- and output ``(G, B, K)``.
Training a stack with the summed per-model losses gives every model exactly its own gradient
(SGD with momentum and weight decay is elementwise), so a stack trains G networks at once with
the result each would get alone. :class:`ListStack` runs any models one after another; faster
stacks (grouped convolutions over models of one shape) implement the same contract.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn


class ListStack(nn.Module):
    """The plain stack: a list of models, each applied to its slice."""

    def __init__(self, models: Sequence[nn.Module]) -> None:
        super().__init__()
        self.models = nn.ModuleList(models)

    def __len__(self) -> int:
        return len(self.models)

    def forward(self, x: Tensor) -> Tensor:
        return torch.stack([model(xg) for model, xg in zip(self.models, x, strict=True)])


# torch's global RNG is one per process: whoever seeds it and draws from it must hold this lock, or
# another thread's draws (any module's default initialisation) slip in between.
global_rng_lock = threading.RLock()


def seeded(build: Callable[[], nn.Module], seed: int) -> nn.Module:
    """Build a model with its weights drawn from ``seed``, leaving the global RNG as it was."""
    with global_rng_lock, torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build()
