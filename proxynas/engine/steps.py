"""Optimizer steps: how the fit loop turns a batch's per-model losses into one update of a stack.

A step is ``step(stack, losses, optimizer, protocol) -> per-model losses (G,)``; ``losses()`` runs the
stack's forward pass on the batch and returns each model's mean loss, and a step may call it more than
once (GSAM's two passes). ``Protocol.optimizer`` names the step; the base optimizer is the engine's SGD
in every case (``Accel.optimizer``). A new step is a function decorated with ``@register_step("name")``.

- ``sgd``: one pass, the summed losses' gradient, one SGD step. Summing gives every model exactly its
  own gradient (``engine.stack``).
- ``gsam`` (Zhuang et al., ICLR 2022), as FTD's experts train (AngusDujw/FTD-distillation
  ``buffer/gsam/gsam.py`` with ``buffer_FTD.py``'s settings): per model, the gradient ``g`` at ``w``; the
  weights moved to ``w + e``, ``e = rho * g * w^2 / ||w * g||`` (``adaptive``; ``rho * g / ||g||``
  otherwise); the gradient ``g'`` there; the update direction ``g' - alpha * (g - cos(g, g') * ||g|| *
  g' / ||g'||)``; the weights back at ``w`` and one step of the base optimizer. BatchNorm keeps its running
  statistics of the first pass only. Every norm and cosine is one model's own, so a model steps the same
  in any stack; that needs the stack's models' parameters apart (:func:`model_parameters`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from proxynas.engine.stack import ListStack
from proxynas.errors import ProxynasError
from proxynas.registry import Registry

if TYPE_CHECKING:  # the protocol module checks its optimizer against this one's registry
    from proxynas.engine.protocol import Protocol

Losses = Callable[[], Tensor]  # the batch's forward pass: each model's mean loss, shape (G,)
Step = Callable[[nn.Module, Losses, torch.optim.Optimizer, "Protocol"], Tensor]

STEPS: Registry[Step] = Registry("optimizer")
PERTURB_EPS = 1e-12  # GSAM's perturb_eps


def register_step(name: str) -> Callable[[Step], Step]:
    """Function decorator: ``@register_step("sgd")``."""
    return STEPS.register(name)


def optimizer_step(name: str) -> Step:
    return STEPS.get(name)


def list_steps() -> list[str]:
    return STEPS.names()


@register_step("sgd")
def sgd_step(stack: nn.Module, losses: Losses, optimizer: torch.optim.Optimizer, protocol: Protocol) -> Tensor:
    per_model = losses()
    optimizer.zero_grad(set_to_none=True)
    per_model.sum().backward()
    optimizer.step()
    return per_model


def model_parameters(stack: nn.Module, models: int) -> list[list[Tensor]]:
    """Each model's trainable parameters: a ``ListStack``'s models', or one model's; a fused stack (whose
    tensors hold several models) cannot tell them apart."""
    stack = getattr(stack, "_orig_mod", stack)  # under torch.compile
    if isinstance(stack, ListStack):
        return [[p for p in model.parameters() if p.requires_grad] for model in stack.models]
    if models == 1:
        return [[p for p in stack.parameters() if p.requires_grad]]
    raise ProxynasError(f"the gsam optimizer needs each model's parameters apart; a {type(stack).__name__} "
                        f"of {models} models fuses them",
                        "train with plain stacks (proxynas.spaces.PlainStacks) or one model per stack (--stack 1)")


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


def gsam(net: nn.Module, losses: Losses, optimizer: torch.optim.Optimizer, *, rho: float, alpha: float,
         adaptive: bool) -> Tensor:
    """One GSAM update of each of ``net``'s models (a stack's, or one network) through ``optimizer``;
    ``losses()`` gives the models' losses (a scalar for one network). Returns them at the unperturbed
    weights."""
    loss = losses()
    groups = model_parameters(net, loss.numel())
    params = [p for group in groups for p in group]
    sizes = [len(group) for group in groups]

    def split(tensors: Sequence[Tensor]) -> list[Sequence[Tensor]]:
        out, start = [], 0
        for size in sizes:
            out.append(tensors[start:start + size])
            start += size
        return out

    old_g = torch.autograd.grad(loss.sum(), params)
    e_w: list[Tensor] = []
    with torch.no_grad():
        for ps, gs in zip(groups, split(old_g), strict=True):
            weighted = [p.abs() * g for p, g in zip(ps, gs, strict=True)] if adaptive else gs
            scale = rho / (_norm(weighted) + PERTURB_EPS)
            e_w += [g * scale * (p.pow(2) if adaptive else 1.0) for p, g in zip(ps, gs, strict=True)]
        for p, e in zip(params, e_w, strict=True):
            p.add_(e)
    saved = _bn_momentum(net, None)
    new_g = torch.autograd.grad(losses().sum(), params)
    _bn_momentum(net, saved)
    with torch.no_grad():
        for ps, es, olds, news in zip(groups, split(e_w), split(old_g), split(new_g), strict=True):
            inner = sum(torch.sum(o * n) for o, n in zip(olds, news, strict=True))
            new_norm, old_norm = _norm(news), _norm(olds)
            cosine = inner / (new_norm * old_norm + PERTURB_EPS)
            for p, e, o, n in zip(ps, es, olds, news, strict=True):
                vertical = o - cosine * old_norm * n / (new_norm + PERTURB_EPS)
                p.grad = n - alpha * vertical
                p.sub_(e)
    optimizer.step()
    return loss.detach()


@register_step("gsam")
def gsam_step(stack: nn.Module, losses: Losses, optimizer: torch.optim.Optimizer, protocol: Protocol) -> Tensor:
    return gsam(stack, losses, optimizer, rho=protocol.rho, alpha=protocol.alpha, adaptive=protocol.adaptive)
