"""``jacob_cov`` (Mellor et al. 2020, v1): the correlations between the images' input gradients of the
summed output; score -sum(log(v + k) + 1 / (v + k)) over their eigenvalues v, k = 1e-5."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from proxynas.zerocost.measure import Probe, register_measure

K = 1e-5


def eigen_score(jacobians: np.ndarray) -> float:
    values = np.linalg.eigvalsh(np.corrcoef(jacobians))  # a correlation matrix is symmetric
    return float(-np.sum(np.log(values + K) + 1.0 / (values + K)))


@register_measure("jacob_cov", data=True, cost="one forward and backward pass of the minibatch")
def jacob_cov(model: nn.Module, probe: Probe) -> float:
    images, _ = probe.batch()
    x = images.clone().requires_grad_(True)
    y = model(x)
    (jacobian,) = torch.autograd.grad(y, x, torch.ones_like(y))
    return eigen_score(jacobian.reshape(len(x), -1).double().numpy())
