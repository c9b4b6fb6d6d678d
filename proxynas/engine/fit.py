"""The training loop: a stack of models, tensors on the device, no DataLoader, no per-step host sync.

Every random number a model's training uses comes from that model's own seed: its batch order from
one generator, its augmentation from another (:func:`stream_seed`), both on the CPU. So a model trains
the same whether it is alone, in a stack of 64, in one half of a stack split after an out-of-memory
error, or on another device (up to the float rounding of the device's kernels).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from proxynas.augment import Augment, D, join_draws
from proxynas.augment.cutmix import cutmix, draw_cutmix, mixed_loss
from proxynas.datasets.base import TensorSet
from proxynas.engine.accel import Accel
from proxynas.engine.protocol import Protocol
from proxynas.engine.snapshots import LiveState, StackSnapshots
from proxynas.engine.steps import optimizer_step

if TYPE_CHECKING:
    from proxynas.engine.checkpoint import StackCheckpoint

EpochHook = Callable[[int, Tensor], None]  # (epoch counted from 0, per-model mean loss on the device)

AUGMENT_STREAM = 1  # stream_seed(seed, AUGMENT_STREAM) seeds a model's augmentation generator
MIX_STREAM = 2  # and stream_seed(seed, MIX_STREAM) its CutMix generator


@dataclass
class FitReport:
    """Per-model outcome of :func:`fit` (tensors of length G, on the CPU)."""

    final_loss: Tensor  # mean training loss of the last epoch
    failed_epoch: Tensor  # first epoch with a non-finite loss, -1 when none
    epochs: int


def stream_seed(seed: int, stream: int) -> int:
    """A seed for random stream ``stream`` of a model with ``seed``, independent of the other streams."""
    return int(np.random.SeedSequence([int(seed), stream]).generate_state(1)[0])


def to_device(tensor: Tensor, device: torch.device) -> Tensor:
    """A CPU tensor on ``device``; to CUDA through pinned memory, so the copy is queued without a wait."""
    if device.type == "cuda":
        tensor = tensor.pin_memory()
    return tensor.to(device, non_blocking=True)


def epoch_orders(generators: Sequence[torch.Generator], n: int, device: torch.device) -> Tensor:
    """One random permutation of ``range(n)`` per model, shape (G, n), drawn on the CPU."""
    return to_device(torch.stack([torch.randperm(n, generator=g) for g in generators]), device)


def per_model_draws(draw: Callable[[torch.Generator], D], generators: Sequence[torch.Generator],
                    device: torch.device) -> D:
    """One draw per model, each from that model's generator, joined in stack order, on ``device``."""
    return join_draws([draw(g) for g in generators]).to(device)


def fit(
    stack: nn.Module,
    data: TensorSet,
    protocol: Protocol,
    seeds: Sequence[int],
    *,
    augment: Augment | None = None,
    on_epoch: EpochHook | None = None,
    accel: Accel | None = None,
    stop: Callable[[], None] | None = None,
    snapshots: StackSnapshots | None = None,
    checkpoint: StackCheckpoint | None = None,
) -> FitReport:
    """Train the G models of ``stack`` on ``data`` (already on the stack's device).

    Model g draws its batch order, its augmentation and its CutMix from ``seeds[g]`` alone. The learning
    rate follows ``protocol.lr_at(epoch)`` for ``protocol.total_epochs`` epochs; a protocol that restarts
    its optimizer at a drop (the DC reference's loop) loses the momentum there. Non-finite losses are
    tracked on the device and reported, never raised: the other models go on. ``accel`` (default:
    :meth:`Accel.for_device`) sets autocast and the optimizer kind. The host never waits for the device
    inside the loop; ``on_epoch`` runs on the calling thread (with its CUDA stream current), may read the
    losses and evaluate the stack, and the stack is put back in training mode after it. ``stop`` is
    called before every step and may raise to end the training there (``engine.stopping``).
    ``protocol.optimizer`` names the step (``engine.steps``); ``snapshots`` may start the stack from a
    kept epoch and sees the whole state after every epoch (``engine.snapshots``).
    ``checkpoint`` (``engine.checkpoint``) saves after the epochs it says and, where there are no
    snapshots, resumes the training from its latest saved state: a resumed training equals an
    uninterrupted one bit for bit.
    """
    device = data.device
    accel = Accel.for_device(device) if accel is None else accel
    g_count, n = len(seeds), len(data)
    batch = min(protocol.batch_size, n)
    steps = math.ceil(n / batch)
    optimizer = accel.optimizer(stack, protocol.lr, protocol.momentum, protocol.weight_decay)
    order_gens = [torch.Generator().manual_seed(int(s)) for s in seeds]
    augment_gens = [torch.Generator().manual_seed(stream_seed(s, AUGMENT_STREAM)) for s in seeds]
    mix_gens = [torch.Generator().manual_seed(stream_seed(s, MIX_STREAM)) for s in seeds]
    failed_epoch = torch.full((g_count,), -1, dtype=torch.long, device=device)
    epoch_loss = torch.zeros(g_count, device=device)
    drops = set(protocol.decay_epochs())
    step_with = optimizer_step(protocol.optimizer)
    generators = {"order": order_gens, "augment": augment_gens, "mix": mix_gens}
    state = LiveState(stack, optimizer, generators)
    start = 0
    if snapshots is not None:  # every epoch kept (experts): the latest one is where it goes on
        start = snapshots.restore(state)
        if start:
            for group in optimizer.param_groups:
                group["lr"] = protocol.lr_at(start)
    elif checkpoint is not None:
        resumed = checkpoint.resume(stack, optimizer, generators)
        if resumed is not None:
            start, epoch_loss, failed_epoch = resumed
            for group in optimizer.param_groups:
                group["lr"] = protocol.lr_at(start - 1) if start > 0 else protocol.lr
    stack.train()
    for epoch in range(start, protocol.total_epochs):
        if epoch in drops:
            for group in optimizer.param_groups:
                group["lr"] = protocol.lr_at(epoch)
            if protocol.restarts_optimizer:
                optimizer.state.clear()  # what a new optimizer starts from: no momentum
        order = epoch_orders(order_gens, n, device)
        epoch_loss = torch.zeros(g_count, device=device)
        for step in range(steps):
            if stop is not None:
                stop()
            index = order[:, step * batch:(step + 1) * batch]  # (G, b)
            x, y = data.images[index], data.labels[index]  # (G, b, C, H, W), (G, b)
            count, size = index.shape[1], x.shape[-2:]  # this step's images per model, (H, W)
            if augment is not None:
                draws = per_model_draws(partial(augment.draw_batch, count, size), augment_gens, device)
                x = augment.apply(x.flatten(0, 1), draws).view_as(x)
            mix = None
            if protocol.mixup == "cutmix":
                mix = per_model_draws(partial(draw_cutmix, count, size, protocol.mix_p), mix_gens, device)
                mixed, y_pasted, keep = cutmix(x.flatten(0, 1), y.flatten(), mix)
                x = mixed.view_as(x)
            pasted = None if mix is None else (y_pasted, keep)

            def model_losses(x: Tensor = x, y: Tensor = y, pasted: tuple[Tensor, Tensor] | None = pasted) -> Tensor:
                with accel.autocast(device):
                    logits = stack(x)  # (G, b, K)
                if pasted is not None:
                    return mixed_loss(logits.float().flatten(0, 1), y.flatten(), *pasted)
                losses = F.cross_entropy(logits.float().flatten(0, 1), y.flatten(), reduction="none")
                return losses.view(g_count, -1).mean(1)

            per_model = step_with(stack, model_losses, optimizer, protocol)
            epoch_loss += per_model.detach() * (index.shape[1] / n)
        bad = ~torch.isfinite(epoch_loss) & (failed_epoch < 0)
        failed_epoch = torch.where(bad, torch.full_like(failed_epoch, epoch), failed_epoch)
        if snapshots is not None:
            snapshots.save(epoch + 1, epoch_loss, state)
        if checkpoint is not None:
            checkpoint.after_epoch(epoch, stack, optimizer, generators, epoch_loss, failed_epoch)
        if on_epoch is not None:
            on_epoch(epoch, epoch_loss)
            stack.train()
    return FitReport(epoch_loss.cpu(), failed_epoch.cpu(), protocol.total_epochs)


@torch.no_grad()
def accuracy(stack: nn.Module, data: TensorSet, g_count: int, chunk: int = 256,
             accel: Accel | None = None) -> Tensor:
    """Fraction of ``data`` each of the G models classifies right, shape (G,), on the CPU.

    Images go through in chunks of ``chunk`` per model: at the training batch size (the engine's
    choice) a stack never needs more memory to evaluate than to train. Should a chunk still run out of
    memory, it is retried in halves; what the stack learned is never lost. In evaluation mode every
    model scores each image on its own, so the result does not depend on the chunk size.
    """
    accel = Accel.for_device(data.device) if accel is None else accel
    stack.eval()
    correct = torch.zeros(g_count, device=data.device)
    start = 0
    while start < len(data):
        x = data.images[start:start + chunk]
        y = data.labels[start:start + chunk]
        try:
            with accel.autocast(data.device):
                correct += (stack(x.expand(g_count, *x.shape)).argmax(-1) == y).sum(1)
        except torch.OutOfMemoryError:
            if len(x) == 1:
                raise
            out_of_memory = True
        else:
            out_of_memory = False
        if out_of_memory:  # outside the except block, whose frames hold the chunk's activations
            chunk = len(x) // 2
            release_cached_memory(data.device)
            continue
        start += len(x)
    return (correct / max(len(data), 1)).cpu()


def release_cached_memory(device: torch.device) -> None:
    """Hand the CUDA caching allocator's free blocks back, so a retry can use them."""
    if device.type == "cuda":
        torch.cuda.empty_cache()
