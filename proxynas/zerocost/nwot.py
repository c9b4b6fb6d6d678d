"""``nwot`` (NASWOT, Mellor et al. 2021, v2; NASLib's ``nwot``): binary codes of every ReLU's input
(x > 0) over the minibatch; K = sum over ReLUs of codes codes^T + (1 - codes)(1 - codes)^T; score log|det K|.

As in NASLib, every module whose type name contains 'ReLU' counts (LeakyReLU too); a network with none
scores log|det 0| = -inf."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from proxynas.zerocost.measure import Probe, register_measure


@register_measure("nwot", data=True, cost="one forward pass of the minibatch")
def nwot(model: nn.Module, probe: Probe) -> float:
    images, _ = probe.batch()
    n = len(images)
    kernel = np.zeros((n, n))

    def count(module: nn.Module, inputs: tuple[Tensor, ...], output: Tensor) -> None:
        nonlocal kernel
        codes = (inputs[0].reshape(n, -1) > 0).float()
        kernel = kernel + (codes @ codes.t()).numpy() + ((1.0 - codes) @ (1.0 - codes.t())).numpy()

    hooks = [m.register_forward_hook(count) for m in model.modules() if "ReLU" in type(m).__name__]
    try:
        with torch.no_grad():
            model(images.clone())
    finally:
        for hook in hooks:
            hook.remove()
    return float(np.linalg.slogdet(kernel)[1])
