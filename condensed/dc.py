"""DC: dataset condensation with gradient matching (Zhao, Mopuri & Bilen, ICLR 2021).

Every iteration draws a fresh network. For ``outer_loop`` rounds, the synthetic images of each class
are moved so that the network's gradients on them match its gradients on a real batch of that class
(:mod:`condensed.matching`); between rounds the network trains ``inner_loop`` epochs on the synthetic
set. With ``augment="dsa"`` both batches of a class go through one siamese DSA draw, and the network's
training batches through per-image DSA: that is :mod:`condensed.dsa`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from condensed.matching import check_metric, match_gradients
from condensed.registry import register_method
from condensed.synthetic import SyntheticMethod, SyntheticSettings, Workspace
from proxynas.augment import DSA
from proxynas.errors import ProxynasError

# (outer_loop, inner_loop) by images per class, as in the reference's get_loops.
REFERENCE_LOOPS = {1: (1, 1), 10: (10, 50), 20: (20, 25), 30: (30, 20), 40: (40, 15), 50: (50, 10)}
BATCHNORM_IMAGES_PER_CLASS = 16  # real images that set a BatchNorm network's statistics


def loops_for(ipc: int) -> tuple[int, int]:
    """The reference's loops; for another ipc, ``ipc`` outer rounds and ``round(500 / ipc)`` inner epochs.

    The reference pairs keep outer x inner near 500 with outer = ipc; the rule follows that.
    """
    if ipc in REFERENCE_LOOPS:
        return REFERENCE_LOOPS[ipc]
    return ipc, max(1, round(500 / ipc))


@dataclass(frozen=True)
class DCSettings(SyntheticSettings):
    iterations: int = 1000
    lr_img: float = 0.1
    init: str = "noise"  # main.py's --init default, which its published DC command keeps (DSA passes real)
    lr_net: float = 0.01  # plain SGD on the network between outer rounds
    batch_train: int = 256  # synthetic images per network step
    outer_loop: int = 0  # 0: by ipc (loops_for)
    inner_loop: int = 0  # 0: by ipc (loops_for)
    metric: str = "ours"  # gradient distance, see condensed.matching.METRICS

    def __post_init__(self) -> None:
        super().__post_init__()
        check_metric(self.metric)
        for name in ("outer_loop", "inner_loop"):
            if getattr(self, name) < 0:
                raise ProxynasError(f"setting {name} must not be negative", f"--set {name}=0 picks it by ipc")
        if self.batch_train < 1:
            raise ProxynasError("setting batch_train must be at least 1", "--set batch_train=256")

    def loops(self, ipc: int) -> tuple[int, int]:
        outer, inner = loops_for(ipc)
        return self.outer_loop or outer, self.inner_loop or inner


def has_batchnorm(net: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in net.modules())


def freeze_batchnorm(net: nn.Module, images: Tensor) -> None:
    """Set BatchNorm statistics from a real batch, then fix them (a few synthetic images cannot)."""
    net.train()
    with torch.no_grad():
        net(images)
    for module in net.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.eval()


def train_epoch(net: nn.Module, optimizer: torch.optim.Optimizer, images: Tensor, labels: Tensor,
                batch: int, augment: DSA | None, generator: torch.Generator) -> None:
    """One epoch of cross-entropy training in shuffled batches, augmented per image when asked."""
    net.train()
    order = torch.randperm(len(images), generator=generator, device=images.device)
    for start in range(0, len(images), batch):
        index = order[start:start + batch]
        x = images[index]
        if augment is not None:
            x = augment(x, generator)
        loss = F.cross_entropy(net(x), labels[index])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()


@register_method
class DC(SyntheticMethod):
    name = "dc"
    protocol = "dc"
    quick: ClassVar[dict[str, Any]] = {"iterations": 3, "outer_loop": 2, "inner_loop": 1, "batch_real": 32,
                                       "net": "d1_w32_relu_instancenorm_avgpool"}
    settings_type = DCSettings

    def iteration(self, work: Workspace, iteration: int, settings: DCSettings) -> Tensor:
        net = work.fresh_net(iteration)
        net.train()
        net_optimizer = torch.optim.SGD(net.parameters(), lr=settings.lr_net)
        outer, inner = settings.loops(work.ipc)
        total = torch.zeros((), device=work.images.device)
        for round_ in range(outer):
            if has_batchnorm(net):
                freeze_batchnorm(net, work.real.sample(BATCHNORM_IMAGES_PER_CLASS, work.generator)[0])
            loss = self.matching_loss(net, work, settings)
            work.images.grad = torch.autograd.grad(loss, [work.images])[0]
            work.optimizer.step()
            total += loss.detach()
            if round_ == outer - 1:
                break
            for _ in range(inner):
                train_epoch(net, net_optimizer, work.images.detach(), work.labels, settings.batch_train,
                            work.augment, work.generator)
        return total / (work.num_classes * outer)

    def matching_loss(self, net: nn.Module, work: Workspace, settings: DCSettings) -> Tensor:
        """Sum over classes of the gradient distance between a real batch and the synthetic images."""
        real_x, real_y = work.real.sample(settings.batch_real, work.generator)
        sizes = work.real.batch_sizes(settings.batch_real)
        size = work.images.shape[-2:]
        params = list(net.parameters())
        losses = []
        for c, (x, y) in enumerate(zip(real_x.split(sizes), real_y.split(sizes), strict=True)):
            syn_x = work.images[c * work.ipc:(c + 1) * work.ipc]
            syn_y = work.labels[c * work.ipc:(c + 1) * work.ipc]
            if work.augment is not None:
                draw = work.augment.draw(1, size, work.generator, x.device)
                x, syn_x = work.augment.apply(x, draw), work.augment.apply(syn_x, draw)
            losses.append(match_gradients(net, x, y, syn_x, syn_y, settings.metric, params))
        return torch.stack(losses).sum()
