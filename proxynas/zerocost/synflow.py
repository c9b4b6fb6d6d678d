"""``synflow`` (Tanaka et al. 2020, as zero-cost-nas and NASLib score a network with it).

BatchNorm off, every parameter and buffer made positive, float64, one all-ones image: the sum of the
output is back-propagated and the score is the sum over Conv2d and Linear weights of |w * dR/dw|.
"""

from __future__ import annotations

import torch
from torch import nn

from proxynas.zerocost.measure import Probe, register_measure, weighted_layers


@register_measure("synflow", data=False, batch_norm=False,
                  cost="one forward and backward pass of one all-ones image, float64")
def synflow(model: nn.Module, probe: Probe) -> float:
    with torch.no_grad():
        for tensor in model.state_dict().values():
            tensor.abs_()
    model.double().zero_grad()
    model(torch.ones(1, *probe.input_shape, dtype=torch.float64)).sum().backward()
    with torch.no_grad():
        return float(sum((layer.weight * layer.weight.grad).abs().sum()
                         for layer in weighted_layers(model) if layer.weight.grad is not None))
