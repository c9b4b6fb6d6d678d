"""``zen`` (Zen-NAS, Lin et al. 2021; NASLib's ``zen``, after idstcv/ZenNAS): Gaussian weights (BatchNorm
scale 1, shift 0), two Gaussian inputs x and x + 0.01 x'; score log of the mean over images of
sum |f(x) - f(x + 0.01 x')| of the feature map before global average pooling, plus the sum over
BatchNorm2d layers of log sqrt(mean running variance) after those two passes.

Data-free: only the batch's shape is used. The draws come from ``probe.seed`` in NASLib's order (weights
in module order, then x, then x'). The feature map is the input of the network's last
``AdaptiveAvgPool2d``, or the space's embedding when it has none (``dc_convnet`` flattens its map).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from proxynas.engine.stack import global_rng_lock
from proxynas.zerocost.measure import Probe, register_measure

MIXUP = 1e-2


def gaussian_init(model: nn.Module) -> None:
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.normal_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)) and m.weight is not None:
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)


def pre_pool_features(model: nn.Module, x: Tensor) -> Tensor:
    pools = [m for m in model.modules() if isinstance(m, nn.AdaptiveAvgPool2d)]
    if not pools:
        return model.embed(x) if hasattr(model, "embed") else model(x)
    seen: list[Tensor] = []
    hook = pools[-1].register_forward_pre_hook(lambda module, inputs: seen.append(inputs[0]))
    try:
        model(x)
    finally:
        hook.remove()
    return seen[-1]


@register_measure("zen", data=False, cost="two forward passes of a Gaussian batch")
def zen(model: nn.Module, probe: Probe) -> float:
    shape = (probe.batch_size, *probe.input_shape)
    with global_rng_lock, torch.random.fork_rng(devices=[]), torch.no_grad():
        torch.manual_seed(probe.seed)
        gaussian_init(model)
        x, x2 = torch.randn(shape), torch.randn(shape)
        a = pre_pool_features(model, x)
        b = pre_pool_features(model, x + MIXUP * x2)
    diff = (a - b).abs()
    score = diff.sum(dim=tuple(range(1, diff.ndim))).mean()
    log_bn = sum(math.log(math.sqrt(float(m.running_var.mean())))
                 for m in model.modules() if isinstance(m, nn.BatchNorm2d))
    return float(torch.log(score)) + log_bn
