"""Coresets: real images chosen per class -- at random, by herding, or by greedy k-center."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from condensed.base import Context, Method, Settings
from condensed.registry import register_method
from proxynas.datasets.base import TensorSet
from proxynas.errors import ProxynasError

Selector = Callable[[Tensor, int, torch.Generator], Tensor]


def select_random(features: Tensor, k: int, generator: torch.Generator) -> Tensor:
    return torch.randperm(len(features), generator=generator)[:k]


def select_herding(features: Tensor, k: int, generator: torch.Generator) -> Tensor:
    """Welling's herding: greedily keep the running mean of the chosen set closest to the class mean."""
    mean = features.mean(0)
    chosen: list[int] = []
    total = torch.zeros_like(mean)
    available = torch.ones(len(features), dtype=torch.bool)
    for t in range(k):
        gaps = ((mean - (total + features) / (t + 1)) ** 2).sum(1)
        gaps[~available] = float("inf")
        i = int(gaps.argmin())
        chosen.append(i)
        total += features[i]
        available[i] = False
    return torch.tensor(chosen, dtype=torch.long)


def select_kcenter(features: Tensor, k: int, generator: torch.Generator) -> Tensor:
    """Greedy k-center (Sener & Savarese): start at the point nearest the mean, then the farthest each time."""
    first = int(((features - features.mean(0)) ** 2).sum(1).argmin())
    chosen = [first]
    nearest = torch.cdist(features, features[first:first + 1]).squeeze(1)
    for _ in range(k - 1):
        i = int(nearest.argmax())
        chosen.append(i)
        nearest = torch.minimum(nearest, torch.cdist(features, features[i:i + 1]).squeeze(1))
    return torch.tensor(chosen, dtype=torch.long)


@dataclass(frozen=True)
class CoresetSettings(Settings):
    features: str = "pixels"  # what distances are measured on (herding, k-center)


class Coreset(Method):
    kind = "coreset"
    protocol = "dc"  # as the DC paper evaluates its coreset baselines (the same loop)
    settings_type = CoresetSettings
    select: Selector

    def condense(self, train: TensorSet, ipc: int, settings: Settings, ctx: Context) -> TensorSet:
        if getattr(settings, "features", "pixels") != "pixels":
            raise ProxynasError(f"coreset features '{settings.features}' are not supported", "use pixels")
        generator = torch.Generator().manual_seed(ctx.seed)
        picked = []
        for label in range(train.num_classes):
            index = train.class_indices(label).cpu()
            if len(index) < ipc:
                raise ProxynasError(f"class {label} has {len(index)} training images, fewer than ipc {ipc}",
                                    f"use --ipc {len(index)} or less")
            features = train.images[index].flatten(1).float().cpu()
            picked.append(index[type(self).select(features, ipc, generator)])
            ctx.report(label + 1, train.num_classes)
        return train.subset(torch.cat(picked).to(train.device)).to(ctx.device)


@register_method
class RandomCoreset(Coreset):
    name = "random"
    select = staticmethod(select_random)


@register_method
class HerdingCoreset(Coreset):
    name = "herding"
    select = staticmethod(select_herding)


@register_method
class KCenterCoreset(Coreset):
    name = "kcenter"
    select = staticmethod(select_kcenter)
