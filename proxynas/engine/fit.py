"""The training loop: a stack of models, tensors on the device, no DataLoader, no per-step host sync."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from proxynas.datasets.base import TensorSet
from proxynas.engine.accel import Accel
from proxynas.engine.protocol import Protocol

Augment = Callable[[Tensor, torch.Generator | None], Tensor]
EpochHook = Callable[[int, Tensor], None]


@dataclass
class FitReport:
    """Per-model outcome of :func:`fit` (tensors of length G, on the CPU)."""

    final_loss: Tensor  # mean training loss of the last epoch
    failed_epoch: Tensor  # first epoch with a non-finite loss, -1 when none
    epochs: int


def epoch_orders(generators: Sequence[torch.Generator], n: int, device: torch.device) -> Tensor:
    """One random permutation of ``range(n)`` per model, shape (G, n), drawn on the CPU.

    On CUDA the orders go through pinned memory, so the copy is queued without waiting for the GPU.
    """
    orders = torch.stack([torch.randperm(n, generator=g) for g in generators])
    if device.type == "cuda":
        orders = orders.pin_memory()
    return orders.to(device, non_blocking=True)


def fit(
    stack: nn.Module,
    data: TensorSet,
    protocol: Protocol,
    seeds: Sequence[int],
    *,
    augment: Augment | None = None,
    on_epoch: EpochHook | None = None,
    accel: Accel | None = None,
) -> FitReport:
    """Train the G models of ``stack`` on ``data`` (already on the stack's device).

    Model g draws its batch order from ``seeds[g]``, so it sees what it would see trained alone.
    Non-finite losses are tracked on the device and reported, never raised: the other models go on.
    ``accel`` (default: :meth:`Accel.for_device`) sets autocast and the optimizer kind; the host never
    waits for the device inside the loop (only ``on_epoch`` may, if it reads the losses).
    """
    device = data.device
    accel = Accel.for_device(device) if accel is None else accel
    g_count, n = len(seeds), len(data)
    batch = min(protocol.batch_size, n)
    steps = math.ceil(n / batch)
    optimizer = accel.optimizer(stack, protocol.lr, protocol.momentum, protocol.weight_decay)
    generators = [torch.Generator().manual_seed(int(s)) for s in seeds]
    aug_gen = torch.Generator(device=device).manual_seed(int(seeds[0]))
    failed_epoch = torch.full((g_count,), -1, dtype=torch.long, device=device)
    epoch_loss = torch.zeros(g_count, device=device)
    stack.train()
    for epoch in range(protocol.epochs):
        if epoch == protocol.decay_epoch and epoch > 0:
            for group in optimizer.param_groups:
                group["lr"] = protocol.lr * 0.1
        order = epoch_orders(generators, n, device)
        epoch_loss = torch.zeros(g_count, device=device)
        for step in range(steps):
            index = order[:, step * batch:(step + 1) * batch]  # (G, b)
            x, y = data.images[index], data.labels[index]  # (G, b, C, H, W), (G, b)
            if augment is not None:
                x = augment(x.flatten(0, 1), aug_gen).view_as(x)
            with accel.autocast(device):
                logits = stack(x)  # (G, b, K)
            losses = F.cross_entropy(logits.float().flatten(0, 1), y.flatten(), reduction="none")
            per_model = losses.view(g_count, -1).mean(1)
            optimizer.zero_grad(set_to_none=True)
            per_model.sum().backward()
            optimizer.step()
            epoch_loss += per_model.detach() * (index.shape[1] / n)
        bad = ~torch.isfinite(epoch_loss) & (failed_epoch < 0)
        failed_epoch = torch.where(bad, torch.full_like(failed_epoch, epoch), failed_epoch)
        if on_epoch is not None:
            on_epoch(epoch, epoch_loss)
    return FitReport(epoch_loss.cpu(), failed_epoch.cpu(), protocol.epochs)


@torch.no_grad()
def accuracy(stack: nn.Module, data: TensorSet, g_count: int, batch: int = 2048,
             accel: Accel | None = None) -> Tensor:
    """Fraction of ``data`` each of the G models classifies right, shape (G,), on the CPU."""
    accel = Accel.for_device(data.device) if accel is None else accel
    stack.eval()
    correct = torch.zeros(g_count, device=data.device)
    for start in range(0, len(data), batch):
        x = data.images[start:start + batch]
        y = data.labels[start:start + batch]
        with accel.autocast(data.device):
            logits = stack(x.expand(g_count, *x.shape))
        correct += (logits.argmax(-1) == y).sum(1)
    return (correct / max(len(data), 1)).cpu()
