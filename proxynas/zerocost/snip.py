"""``snip`` (Lee et al. 2019): sum over Conv2d/Linear weights of |w * dL/dw| on the minibatch's cross-entropy.

The references put a mask of ones on every weight and take |dL/dmask|, which is the same product.
"""

from __future__ import annotations

import torch
from torch import nn

from proxynas.zerocost.measure import Probe, loss_of, register_measure, weighted_layers


@register_measure("snip", data=True, cost="one forward and backward pass of the minibatch")
def snip(model: nn.Module, probe: Probe) -> float:
    weights = [layer.weight for layer in weighted_layers(model)]
    grads = torch.autograd.grad(loss_of(model, *probe.batch()), weights, allow_unused=True)
    return float(sum((w.detach() * g).abs().sum() for w, g in zip(weights, grads, strict=True) if g is not None))
