"""``flops``: forward FLOPs of one image through the convolutions and linear layers (2 per multiply-add).

The runner takes the space's own ``SearchSpace.cost`` when it has one (``dc_convnet``, ``nb201``: their
convolutions, analytically); this counts a network by hooks otherwise. NASLib counts with tensorwatch and
zero-cost-nas reads NAS-Bench-201's table; a ranking by either is a ranking by the convolutions' FLOPs.
"""

from __future__ import annotations

import torch
from torch import nn

from proxynas.zerocost.measure import Probe, register_measure


@register_measure("flops", data=False, cost="none: counted (one forward pass of one image without a formula)")
def flops(model: nn.Module, probe: Probe) -> float:
    total = 0

    def count(layer: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        nonlocal total
        weight = layer.weight
        per_output = weight[0].numel() if isinstance(layer, nn.Conv2d) else weight.shape[1]
        total += 2 * per_output * output.numel()

    hooks = [m.register_forward_hook(count) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    try:
        with torch.no_grad():
            model.eval()
            model(torch.zeros(1, *probe.input_shape))
    finally:
        for hook in hooks:
            hook.remove()
    return float(total)
