"""What a stack's next epoch depends on (:class:`TrainState`), sliced per model for an out-of-memory
split, checked against the stack it is loaded into, and where a stack keeps its per-model modules.
``engine.checkpoint`` saves and loads it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from proxynas.engine.stack import ListStack, global_rng_lock


@dataclass
class TrainState:
    """Everything a stack's next epoch depends on, on the CPU; ``epoch``: epochs done."""

    epoch: int
    model: dict[str, Tensor]  # the stack's state_dict
    optimizer: dict[str, dict[str, Any]]  # parameter name -> its optimizer state (momentum buffer)
    generators: dict[str, list[Tensor]]  # stream -> each model's generator state
    epoch_loss: Tensor  # (G,) the last epoch's mean losses
    failed_epoch: Tensor  # (G,) first non-finite epoch, -1 when none
    seconds: float  # device-seconds spent on the stack up to this state
    global_rng: dict[str, Tensor] = field(default_factory=dict)  # "cpu", "cuda": global generators' states
    models_prefix: str | None = None  # "models." of a ListStack (maybe wrapped): sliceable; None: fused

    def slice(self, start: int, stop: int) -> TrainState | None:
        """The state of models ``start:stop`` alone, as their own stack; None when the stack is fused."""
        if self.models_prefix is None:
            return None
        g_count = len(self.epoch_loss)

        def take(named: dict[str, Any]) -> dict[str, Any] | None:
            out = {}
            for name, value in named.items():
                rest = name[len(self.models_prefix):] if name.startswith(self.models_prefix) else None
                index, dot, tail = (rest or "").partition(".")
                if not dot or not index.isdigit():
                    return None  # something outside the models: not sliceable
                if start <= int(index) < stop:
                    out[f"{self.models_prefix}{int(index) - start}.{tail}"] = value
            return out

        model, optimizer = take(self.model), take(self.optimizer)
        if model is None or optimizer is None:
            return None
        return TrainState(self.epoch, model, optimizer, {k: v[start:stop] for k, v in self.generators.items()},
                          self.epoch_loss[start:stop].clone(), self.failed_epoch[start:stop].clone(),
                          self.seconds * (stop - start) / max(g_count, 1), {}, self.models_prefix)


def models_prefix(stack: nn.Module) -> str | None:
    """Where a stack's per-model modules are named (``models.`` of a ListStack), None for a fused stack."""
    for name, module in stack.named_modules():
        if isinstance(module, ListStack):
            return f"{name}.models." if name else "models."
    return None


def unwrapped(stack: nn.Module) -> nn.Module:
    """The stack behind torch.compile's wrapper (its parameter names, its state_dict)."""
    return getattr(stack, "_orig_mod", stack)


def restore_global_rng(states: dict[str, Tensor], device: torch.device) -> None:
    with global_rng_lock:
        if "cpu" in states:
            torch.set_rng_state(states["cpu"])
        if "cuda" in states and device.type == "cuda":
            torch.cuda.set_rng_state(states["cuda"], device)


def structure_mismatch(stack: nn.Module, state: TrainState) -> str:
    """'' when the state's tensors are the stack's by name, shape and dtype; else the first difference."""
    own = stack.state_dict()
    if set(own) != set(state.model):
        extra = sorted(set(state.model) ^ set(own))
        return f"tensors differ by name: {', '.join(extra[:3])}"
    for name, tensor in own.items():
        saved = state.model[name]
        if saved.shape != tensor.shape or saved.dtype != tensor.dtype:
            return f"{name}: {tuple(saved.shape)} {saved.dtype} saved, {tuple(tensor.shape)} {tensor.dtype} built"
    params = dict(stack.named_parameters())
    if any(name not in params for name in state.optimizer):
        return "optimizer state for unknown parameters"
    return ""
