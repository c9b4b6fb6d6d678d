"""GSAM (Zhuang et al., ICLR 2022), the sharpness-aware step FTD's experts train with, on one network.

The step itself is the engine's (:mod:`proxynas.engine.steps`, ``gsam``), which trains FTD's experts in
stacks; this is its one-network form, for :func:`condensed.experts.expert_epoch` (the golden comparison
with FTD's ``buffer_FTD.py``). ``rho`` is constant: the reference's ProportionScheduler gives ``rho_max``
when, as in ``run_buffer.sh``, the learning rate is constant and ``rho_max == rho_min``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from proxynas.engine.steps import PERTURB_EPS, gsam

__all__ = ["PERTURB_EPS", "gsam_step"]


def gsam_step(net: nn.Module, loss_fn: Callable[[], Tensor], optimizer: torch.optim.Optimizer, *, rho: float,
              alpha: float, adaptive: bool) -> Tensor:
    """One GSAM update of ``net``'s parameters through ``optimizer`` (plain SGD in the reference); the
    loss at the unperturbed weights."""
    return gsam(net, loss_fn, optimizer, rho=rho, alpha=alpha, adaptive=adaptive)
