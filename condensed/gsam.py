"""GSAM (Zhuang et al., ICLR 2022), the sharpness-aware step FTD's experts train with.

As FTD's ``buffer/gsam/gsam.py`` (AngusDujw/FTD-distillation) with its ``buffer_FTD.py`` settings: the
gradient ``g`` at ``w``; the weights moved to ``w + e``, ``e = rho * g * w^2 / ||w * g||`` (adaptive; plain
``rho * g / ||g||`` otherwise); the gradient ``g'`` there; the update direction
``g' - alpha * (g - cos(g, g') * ||g|| * g' / ||g'||)``; the weights back at ``w`` and one step of the base
optimizer. BatchNorm keeps its running statistics of the first pass only. ``rho`` is constant here: the
reference's ProportionScheduler gives ``rho_max`` when, as in ``run_buffer.sh``, the learning rate is
constant and ``rho_max == rho_min``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

PERTURB_EPS = 1e-12  # GSAM's perturb_eps


def _norm(tensors: Sequence[Tensor]) -> Tensor:
    return torch.norm(torch.stack([t.norm(p=2) for t in tensors]), p=2)


def _bn_momentum(net: nn.Module, momentum: dict[nn.Module, float | None] | None) -> dict[nn.Module, float | None]:
    """Disable (``momentum`` None) or restore BatchNorm running statistics, as GSAM's bypass_bn does."""
    saved = {}
    for m in net.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            saved[m] = m.momentum
            m.momentum = 0.0 if momentum is None else momentum[m]
    return saved


def gsam_step(net: nn.Module, loss_fn: Callable[[], Tensor], optimizer: torch.optim.Optimizer, *, rho: float,
              alpha: float, adaptive: bool) -> Tensor:
    """One GSAM update of ``net``'s parameters through ``optimizer`` (plain SGD in the reference); the
    loss at the unperturbed weights."""
    params = [p for p in net.parameters() if p.requires_grad]
    loss = loss_fn()
    old_g = torch.autograd.grad(loss, params)
    with torch.no_grad():
        weighted = [p.abs() * g for p, g in zip(params, old_g, strict=True)] if adaptive else old_g
        grad_norm = _norm(weighted)
        scale = rho / (grad_norm + PERTURB_EPS)
        e_w = [g * scale * (p.pow(2) if adaptive else 1.0) for p, g in zip(params, old_g, strict=True)]
        for p, e in zip(params, e_w, strict=True):
            p.add_(e)
    saved = _bn_momentum(net, None)
    new_g = torch.autograd.grad(loss_fn(), params)
    _bn_momentum(net, saved)
    with torch.no_grad():
        inner = sum(torch.sum(o * n) for o, n in zip(old_g, new_g, strict=True))
        new_norm, old_norm = _norm(new_g), _norm(old_g)
        cosine = inner / (new_norm * old_norm + PERTURB_EPS)
        for p, e, o, n in zip(params, e_w, old_g, new_g, strict=True):
            vertical = o - cosine * old_norm * n / (new_norm + PERTURB_EPS)
            p.grad = n - alpha * vertical
            p.sub_(e)
    optimizer.step()
    return loss.detach()
