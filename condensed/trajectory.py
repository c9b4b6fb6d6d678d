"""Trajectory matching, what MTT and FTD share: a student started from an expert's parameters at epoch
``start`` takes ``syn_steps`` SGD steps on synthetic batches with a learnable step size ``syn_lr``; the loss
is the squared distance of its parameters to the expert's at epoch ``start + expert_epochs``, divided by
the expert's own distance over those epochs (both per parameter, as the reference divides). The images
and ``syn_lr`` learn from it by backpropagating through every step (GeorgeCazenavette/mtt-distillation
``distill.py``, pinned in tests/golden/README.md).

The student is the network run with :func:`torch.func.functional_call` on a flat parameter vector (the
reference's ``ReparamModule`` trick): each step's vector is ``previous - syn_lr * grad`` with the gradient
taken with ``create_graph=True``. Memory: only the newest vector is referenced here; the autograd graph
keeps what the meta-gradient needs (each step's activations and parameters, ``syn_steps`` of them), so the
peak grows with ``syn_steps x batch_syn``; ``batch_syn`` (the reference's ``--batch_syn``) bounds a step's
activations, as the reference advises when memory runs out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call

from proxynas.augment import DSA, Draw

# (index into the synthetic set, DSA draw or None) for one student step
BatchPicker = Callable[[int], tuple[Tensor, Draw | None]]


def split_flat(net: nn.Module, flat: Tensor) -> dict[str, Tensor]:
    """Views of ``flat`` shaped as ``net``'s parameters, by name (in ``net.parameters()`` order)."""
    out, offset = {}, 0
    for name, p in net.named_parameters():
        out[name] = flat[offset:offset + p.numel()].view_as(p)
        offset += p.numel()
    return out


def flat_params(net: nn.Module) -> Tensor:
    return torch.cat([p.detach().reshape(-1) for p in net.parameters()])


def reference_batches(n: int, batch: int, steps: int, augment: DSA | None, size: tuple[int, int],
                      generator: torch.Generator, device: torch.device) -> BatchPicker:
    """The reference's order: a fresh ``randperm`` split into chunks of ``batch``, taken from the last chunk
    (``indices_chunks.pop()``); one DSA call per step (a family for the batch, parameters per image)."""
    chunks: list[Tensor] = []

    def pick(step: int) -> tuple[Tensor, Draw | None]:
        if not chunks:
            chunks.extend(torch.randperm(n, generator=generator, device=device).split(batch))
        index = chunks.pop()
        draw = None
        if augment is not None:
            draw = augment.draw(len(index), size, generator, device).share_family()
        return index, draw

    return pick


def student_distance(net: nn.Module, start: Tensor, target: Tensor, images: Tensor, labels: Tensor,
                     syn_lr: Tensor, steps: int, pick: BatchPicker, augment: DSA | None) -> Tensor:
    """The normalized parameter distance after ``steps`` student steps (0-d, differentiable in ``images``
    and ``syn_lr``)."""
    params = start.detach().clone().requires_grad_(True)
    current = params
    for step in range(steps):
        index, draw = pick(step)
        x = images[index]
        if augment is not None and draw is not None:
            x = augment.apply(x, draw)
        logits = functional_call(net, split_flat(net, current), (x,))
        ce = F.cross_entropy(logits, labels[index])
        grad = torch.autograd.grad(ce, current, create_graph=True)[0]
        current = current - syn_lr * grad
    num_params = start.numel()
    loss = F.mse_loss(current, target, reduction="sum") / num_params
    dist = F.mse_loss(start, target, reduction="sum") / num_params
    return loss / dist


def trajectory_step(net: nn.Module, start: Tensor, target: Tensor, images: Tensor, labels: Tensor, syn_lr: Tensor,
                    steps: int, pick: BatchPicker, augment: DSA | None, optimizer: torch.optim.Optimizer,
                    lr_optimizer: torch.optim.Optimizer, ema: Tensor | None = None, ema_decay: float = 0.0) -> Tensor:
    """One distillation iteration: the loss, its gradient into ``images`` and ``syn_lr``, a step of each
    optimizer, and (FTD) the moving average of the images updated (timm's ``ModelEmaV2.update``)."""
    loss = student_distance(net, start, target, images, labels, syn_lr, steps, pick, augment)
    optimizer.zero_grad(set_to_none=True)
    lr_optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    lr_optimizer.step()
    if ema is not None:
        with torch.no_grad():
            ema.copy_(ema_decay * ema + (1.0 - ema_decay) * images.detach())
    return loss.detach()


@dataclass(frozen=True)
class Resolved:
    """The settings a run uses once the reference table has filled the unset ones."""

    syn_steps: int
    expert_epochs: int
    max_start_epoch: int
    lr_img: float
    lr_lr: float
    lr_teacher: float
    zca: bool
    batch_syn: int  # 0: the whole set in every step
    ema_decay: float = 0.0  # FTD only

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)
