"""Single-network training loops the engine is measured against, and FLOP counting.

``reference_train`` follows the reference condensation code's ``evaluate_synset`` and ``epoch``
(VICO-UoE/DatasetCondensation utils.py) step for step: a DataLoader over the tensors (shuffle, batch
256), fp32, per batch the loss and the predictions read on the host (two host syncs); ``Epoch + 1``
epochs for ``Epoch`` asked, and after the epoch whose index is ``Epoch // 2 + 1`` the learning rate
x0.1 with a NEW optimizer (the momentum buffers start again from zero). That differs from the
engine's protocol (``Epoch`` epochs, lr x0.1 from epoch ``int(Epoch * 0.5)``, momentum kept), so
accuracies of the two are compared as two protocols, not as one.

``best_single_train`` is the fastest plain loop for ONE network we could write: data on the device,
batch order drawn on the device, no host sync, the engine's :class:`Accel` (bf16, channels_last,
fused SGD on CUDA; optionally torch.compile), the engine's protocol.
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


def reference_lrs(epochs: int, lr: float) -> list[float]:
    """The learning rate of each epoch the reference trains when asked for ``epochs``: ``Epoch + 1``
    epochs (``range(Epoch + 1)``), x0.1 after the epoch whose index is ``Epoch // 2 + 1`` (``lr_schedule``).
    Where the rate changes, the reference makes a new optimizer."""
    decay_after = epochs // 2 + 1
    return [lr if e <= decay_after else lr * 0.1 for e in range(epochs + 1)]


def reference_train(model: nn.Module, train: TensorSet, protocol: Protocol, seed: int) -> float:
    """Train ``model`` as the reference does for ``protocol.epochs``; the last epoch's mean loss."""
    loader = DataLoader(TensorDataset(train.images, train.labels), batch_size=protocol.batch_size,
                        shuffle=True, num_workers=0, generator=torch.Generator().manual_seed(seed))
    lrs = reference_lrs(protocol.epochs, protocol.lr)
    optimizer = None
    loss_avg = 0.0
    for epoch, lr in enumerate(lrs):
        if optimizer is None or lr != lrs[epoch - 1]:  # as the reference: a new optimizer, momentum from zero
            optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=protocol.momentum,
                                        weight_decay=protocol.weight_decay)
        model.train()
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
    """The reference's test pass: eval mode, a DataLoader of batch 256, predictions read on the host."""
    model.eval()
    correct = 0
    for images, labels in DataLoader(TensorDataset(data.images, data.labels), batch_size=batch):
        correct += int((model(images.float()).argmax(-1).cpu() == labels.cpu()).sum())
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


@torch.no_grad()
def best_single_accuracy(model: nn.Module, data: TensorSet, accel: Accel, batch: int = 500) -> float:
    model.eval()
    correct = torch.zeros((), device=data.device)
    for start in range(0, len(data), batch):
        with accel.autocast(data.device):
            correct += (model(data.images[start:start + batch]).argmax(-1) == data.labels[start:start + batch]).sum()
    return float(correct) / len(data)


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
