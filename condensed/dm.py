"""DM: dataset condensation with distribution matching (Zhao & Bilen, WACV 2023).

Every iteration draws a fresh, untrained network and moves the synthetic images so that, class by
class, their mean embedding (the network's features before the classifier: its space's ``embed``)
matches the mean embedding of a real batch: the loss is the sum over classes of the squared distance
between the two means. The real and synthetic images of a class go through one siamese DSA draw (on by
default).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor

from condensed.registry import register_method
from condensed.synthetic import SyntheticMethod, SyntheticSettings, Workspace


@dataclass(frozen=True)
class DMSettings(SyntheticSettings):
    iterations: int = 20_000
    lr_img: float = 1.0
    augment: str = "dsa"


def class_means(rows: Tensor, labels: Tensor, counts: Tensor) -> Tensor:
    """Mean row of every class, shape (num_classes, D); ``counts`` holds the rows of each class."""
    sums = rows.new_zeros(len(counts), rows.shape[1]).index_add(0, labels, rows)
    return sums / counts[:, None].to(rows.dtype)


@register_method
class DM(SyntheticMethod):
    name = "dm"
    protocol = "dm"
    quick: ClassVar[dict[str, Any]] = {"iterations": 3, "batch_real": 32, "net": "d1_w32_relu_instancenorm_avgpool"}
    settings_type = DMSettings

    def iteration(self, work: Workspace, iteration: int, settings: DMSettings) -> Tensor:
        net = work.fresh_net(iteration)
        net.train()
        net.requires_grad_(False)
        real_x, real_y = work.real.sample(settings.batch_real, work.generator)
        syn_x, syn_y = work.images, work.labels
        if work.augment is not None:  # one siamese draw per class
            draws = work.augment.draw(work.num_classes, syn_x.shape[-2:], work.generator, syn_x.device)
            real_x = work.augment.apply(real_x, draws.take(real_y))
            syn_x = work.augment.apply(syn_x, draws.take(syn_y))
        with torch.no_grad():
            real_counts = work.real.batch_size_tensor(settings.batch_real)
            real_means = class_means(work.space.embed(net, real_x), real_y, real_counts)
        syn_counts = torch.full((work.num_classes,), work.ipc, device=syn_x.device)
        syn_means = class_means(work.space.embed(net, syn_x), syn_y, syn_counts)
        loss = ((real_means - syn_means) ** 2).sum()
        work.images.grad = torch.autograd.grad(loss, [work.images])[0]
        work.optimizer.step()
        return loss.detach() / work.num_classes
