"""``fisher`` (Turner et al. 2020) as the references score it: per Conv2d/Linear output channel k,
0.5 * mean over images of (sum over positions of activation * dL/dactivation)^2, counted once per weight of
that channel (the references broadcast it over the channel's fan-in, then sum everything)."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from proxynas.zerocost.measure import Probe, loss_of, register_measure, weighted_layers


@register_measure("fisher", data=True, cost="one forward and backward pass of the minibatch")
def fisher(model: nn.Module, probe: Probe) -> float:
    layers = list(weighted_layers(model))
    outputs: dict[nn.Module, Tensor] = {}

    def keep(layer: nn.Module, inputs: tuple, output: Tensor) -> None:
        outputs[layer] = output

    hooks = [layer.register_forward_hook(keep) for layer in layers]
    try:
        loss = loss_of(model, *probe.batch())
    finally:
        for hook in hooks:
            hook.remove()
    used = [layer for layer in layers if layer in outputs]
    grads = torch.autograd.grad(loss, [outputs[layer] for layer in used], allow_unused=True)
    total = 0.0
    for layer, grad in zip(used, grads, strict=True):
        if grad is None:
            continue
        act = outputs[layer].detach()
        g_nk = (act * grad).sum(dim=tuple(range(2, act.ndim))) if act.ndim > 2 else act * grad
        per_channel = g_nk.pow(2).mean(0).mul(0.5)
        total += float(per_channel.abs().sum()) * math.prod(layer.weight.shape[1:])
    return total
