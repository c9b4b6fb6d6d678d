"""``grad_norm``: the sum over Conv2d/Linear layers of the L2 norm of dL/dw on the minibatch."""

from __future__ import annotations

import torch
from torch import nn

from proxynas.zerocost.measure import Probe, loss_of, register_measure, weighted_layers


@register_measure("grad_norm", data=True, cost="one forward and backward pass of the minibatch")
def grad_norm(model: nn.Module, probe: Probe) -> float:
    weights = [layer.weight for layer in weighted_layers(model)]
    grads = torch.autograd.grad(loss_of(model, *probe.batch()), weights, allow_unused=True)
    return float(sum(g.norm() for g in grads if g is not None))
