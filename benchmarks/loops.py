"""Single-network training loops the engine is measured against, and FLOP counting.

``reference_train`` is shaped like the reference condensation code's ``evaluate_synset`` / ``epoch``
(VICO-UoE/DatasetCondensation utils.py): a DataLoader over a TensorDataset (shuffle, batch 256), fp32,
and per batch ``loss.item()`` and the predictions copied to the host (two host syncs). Its schedule is
the engine's protocol (lr x0.1 at ``decay_epochs()``, momentum kept), so (c) compares like with like.

``best_single_train`` is the fastest plain loop for ONE network we could write: data on the device,
batch order drawn on the device, no host sync, the engine's :class:`Accel` (bf16, channels_last,
fused SGD on CUDA; optionally torch.compile).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from torch.utils.flop_counter import FlopCounterMode

from proxynas.datasets.base import TensorSet
from proxynas.engine import Accel, Protocol


def reference_train(model: nn.Module, train: TensorSet, protocol: Protocol, seed: int) -> float:
    """Train ``model`` the reference way; returns the last epoch's mean loss (read on the host)."""
    loader = DataLoader(TensorDataset(train.images, train.labels), batch_size=protocol.batch_size,
                        shuffle=True, num_workers=0, generator=torch.Generator().manual_seed(seed))
    optimizer = torch.optim.SGD(model.parameters(), lr=protocol.lr, momentum=protocol.momentum,
                                weight_decay=protocol.weight_decay)
    model.train()
    loss_avg = 0.0
    for epoch in range(protocol.epochs):
        if epoch in protocol.decay_epochs():
            for group in optimizer.param_groups:
                group["lr"] = protocol.lr_at(epoch)
        loss_avg, correct, seen = 0.0, 0, 0
        for images, labels in loader:
            output = model(images.float())
            loss = F.cross_entropy(output, labels)
            correct += int((output.argmax(-1).cpu() == labels.cpu()).sum())  # host sync, as the reference
            loss_avg += loss.item() * len(labels)  # host sync, as the reference
            seen += len(labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        loss_avg /= seen
    return loss_avg


@torch.no_grad()
def reference_accuracy(model: nn.Module, data: TensorSet, batch: int = 256) -> float:
    model.eval()
    correct = 0
    for images, labels in DataLoader(TensorDataset(data.images, data.labels), batch_size=batch):
        correct += int((model(images).argmax(-1).cpu() == labels.cpu()).sum())
    return correct / len(data)


def best_single_train(model: nn.Module, train: TensorSet, protocol: Protocol, seed: int,
                      accel: Accel) -> None:
    """One network, as fast as a plain loop goes: device-side orders, no host sync, ``accel``."""
    device = train.device
    model = accel.prepare(model)
    optimizer = accel.optimizer(model, protocol.lr, protocol.momentum, protocol.weight_decay)
    generator = torch.Generator(device=device).manual_seed(seed)
    n, batch = len(train), min(protocol.batch_size, len(train))
    model.train()
    for epoch in range(protocol.epochs):
        if epoch in protocol.decay_epochs():
            for group in optimizer.param_groups:
                group["lr"] = protocol.lr_at(epoch)
        order = torch.randperm(n, device=device, generator=generator)
        for start in range(0, n, batch):
            index = order[start:start + batch]
            with accel.autocast(device):
                logits = model(train.images[index])
            loss = F.cross_entropy(logits.float(), train.labels[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()


def flops_per_image(build: Callable[[], nn.Module], shape: tuple[int, ...]) -> tuple[float, float]:
    """(training, inference) FLOPs of one image through a model (built on the meta device, no compute):
    forward + backward as autograd runs them, and forward alone; conv and matmul FLOPs (torch's counter)."""
    with torch.device("meta"):
        model = build()
        x = torch.empty(2, *shape)
    with FlopCounterMode(display=False) as counter:
        model(x).sum().backward()
    train = counter.get_total_flops() / 2
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(x)
    return train, counter.get_total_flops() / 2
