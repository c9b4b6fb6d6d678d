"""``grasp`` (Wang et al. 2020), as the references score it: -sum(w * Hg) over Conv2d/Linear weights, where
g = dL/dw and Hg the Hessian-gradient product, each on the same minibatch (temperature 1, one iteration)."""

from __future__ import annotations

import torch
from torch import nn

from proxynas.zerocost.measure import Probe, loss_of, register_measure, weighted_layers


@register_measure("grasp", data=True, cost="two forward passes, a backward pass and a double backward")
def grasp(model: nn.Module, probe: Probe) -> float:
    weights = [layer.weight for layer in weighted_layers(model)]
    images, labels = probe.batch()
    first = torch.autograd.grad(loss_of(model, images, labels), weights, allow_unused=True)
    second = torch.autograd.grad(loss_of(model, images, labels), weights, create_graph=True, allow_unused=True)
    z = sum((g1.detach() * g2).sum() for g1, g2 in zip(first, second, strict=True) if g1 is not None)
    hg = torch.autograd.grad(z, weights, allow_unused=True)
    return float(sum((-w.detach() * h).sum() for w, h in zip(weights, hg, strict=True) if h is not None))
