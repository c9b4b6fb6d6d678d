"""Per-epoch snapshots: a hook that sees a stack's whole training state at every epoch's end, and may
start a stack from a state it kept.

A task's ``snapshots`` (:class:`Snapshots`; it travels with the task, so it pickles and runs where the
stack trains: a worker thread, a Ray worker process) is asked once, before the first epoch, to
``restore`` the stack's jobs (it returns how many epochs they have already trained, 0 for none), and is
given the state after every epoch (``save``). The state (:class:`LiveState`) is all that decides the
rest of the training: the stack's parameters and buffers, the optimizer's state and each model's random
generators (batch order, augmentation, mixing; ``engine.fit``). So a stack restored at epoch ``k``
trains on exactly as the uninterrupted one did from there: the engine's invariant still holds.

The expert trajectories of MTT and FTD (:mod:`condensed.experts`) keep every epoch's parameters this
way, and resume from the last one after a kill.
"""

from __future__ import annotations

import typing
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from proxynas.engine.stack import ListStack
from proxynas.errors import ProxynasError

if TYPE_CHECKING:
    from proxynas.engine.run import Job

GENERATORS = ("order", "augment", "mix")  # each model's random streams, as engine.fit draws them


@dataclass
class LiveState:
    """A stack's training at an epoch's end, live: the stack, its optimizer and each model's generators
    themselves (a checkpoint's copy of them is ``engine.train_state.TrainState``)."""

    stack: nn.Module
    optimizer: torch.optim.Optimizer
    generators: dict[str, list[torch.Generator]]  # GENERATORS -> one per model, in stack order

    def model(self, g: int) -> nn.Module:
        """Model ``g`` of a plain stack (``ListStack``), or the whole module when it holds one model."""
        stack = getattr(self.stack, "_orig_mod", self.stack)  # under torch.compile
        if isinstance(stack, ListStack):
            return stack.models[g]
        if g == 0:
            return stack
        raise ProxynasError(f"a {type(stack).__name__} does not hold its models apart: no per-model snapshot",
                            "train with plain stacks (proxynas.spaces.PlainStacks) or one model per stack")

    def model_tensors(self, g: int) -> dict[str, Tensor]:
        """Everything model ``g``'s training goes on from, as CPU tensors: ``param.*``, ``buffer.*``,
        ``optim.{key}.*`` (the optimizer's tensors of that parameter) and ``rng.{stream}``."""
        model = self.model(g)
        out: dict[str, Tensor] = {}
        for name, p in model.named_parameters():
            out[f"param.{name}"] = _copy(p)
            for key, value in self.optimizer.state.get(p, {}).items():
                if isinstance(value, Tensor):
                    out[f"optim.{key}.{name}"] = _copy(value)
        for name, b in model.named_buffers():
            out[f"buffer.{name}"] = _copy(b)
        for stream in GENERATORS:
            out[f"rng.{stream}"] = self.generators[stream][g].get_state()
        return out

    @torch.no_grad()
    def load_model(self, g: int, tensors: dict[str, Tensor]) -> None:
        """Model ``g`` put back where :meth:`model_tensors` found it (values copied in place)."""
        model = self.model(g)
        params = dict(model.named_parameters())
        for name, p in params.items():
            p.copy_(tensors[f"param.{name}"])
        for key, value in tensors.items():
            if key.startswith("optim."):  # optim.{state key (no dot)}.{parameter name}
                state_key, _, name = key[len("optim."):].partition(".")
                self.optimizer.state[params[name]][state_key] = value.to(params[name].device).clone()
        for name, b in model.named_buffers():
            b.copy_(tensors[f"buffer.{name}"])
        for stream in GENERATORS:
            self.generators[stream][g].set_state(tensors[f"rng.{stream}"])


def _copy(tensor: Tensor) -> Tensor:
    """A contiguous CPU copy: never the live tensor itself (``.cpu()`` of a CPU tensor is)."""
    return tensor.detach().to("cpu", memory_format=torch.contiguous_format, copy=True)


class Snapshots(typing.Protocol):
    """Where a task's stacks keep their per-epoch states (see the module docstring)."""

    def restore(self, jobs: list[Job], state: LiveState) -> int:
        """Put the stack of ``jobs`` back at its last kept epoch; return that epoch (0: train from the start)."""
        ...

    def save(self, jobs: list[Job], epoch: int, losses: Tensor, state: LiveState) -> None:
        """Keep the state after epoch ``epoch`` (counted from 1) and each model's mean loss in it."""
        ...


@dataclass(frozen=True)
class StackSnapshots:
    """A task's snapshots bound to one stack's jobs: what ``engine.fit`` calls."""

    snapshots: Snapshots
    jobs: list[Job]

    def restore(self, state: LiveState) -> int:
        return self.snapshots.restore(self.jobs, state)

    def save(self, epoch: int, losses: Tensor, state: LiveState) -> None:
        self.snapshots.save(self.jobs, epoch, losses, state)
