"""``params``: the number of trainable parameters (NASLib's ``params`` measure counts them with tensorwatch)."""

from __future__ import annotations

from torch import nn

from proxynas.zerocost.measure import Probe, register_measure


@register_measure("params", data=False, cost="none: counted")
def params(model: nn.Module, probe: Probe) -> float:
    return float(sum(p.numel() for p in model.parameters() if p.requires_grad))
