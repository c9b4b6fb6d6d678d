"""Gradient matching: how far the gradients a network gets from synthetic images are from the real ones.

The shared core of DC, DSA and IDC (VICO-UoE/DatasetCondensation ``match_loss`` / ``distance_wb``).
Use it as

>>> loss = match_gradients(net, real_x, real_y, syn_x, syn_y, metric="ours")
>>> loss.backward()       # or torch.autograd.grad(loss, [synthetic_images])

``match_gradients`` takes the real gradients as constants and keeps the graph of the synthetic ones,
so the loss is differentiable in ``syn_x``. Pass ``params`` to match only some parameters (IDC, for
one, leaves out biases and the classifier: ``params=[p for p in net.parameters() if p.ndim > 2]``).
The lower-level pieces are :func:`network_gradients` and :func:`gradient_distance`.

Metrics (``METRICS``):

- ``"ours"``: the reference's layer-wise distance. Per parameter, the gradient is viewed as rows, one
  per output channel (conv ``O x I x kh x kw`` -> ``O`` rows, linear ``O x I`` -> ``O`` rows, a LayerNorm
  scale ``C x H x W`` -> ``C`` rows), and the distance is the sum over rows of ``1 - cosine``.
  One-dimensional gradients (biases, batch/instance/group-norm scales and shifts) count zero.
- ``"mse"``: sum of squared differences over all gradients (biases included, as in the reference).
- ``"cos"``: ``1 - cosine`` of all gradients concatenated into one vector each.
- ``"l1"``: sum of absolute differences over all gradients (IDC's default metric).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from proxynas.errors import ProxynasError

METRICS = ("ours", "mse", "cos", "l1")
EPS = 1e-6  # the reference's guard against a zero norm


def check_metric(metric: str) -> None:
    if metric not in METRICS:
        raise ProxynasError(f"unknown gradient distance '{metric}'", f"choose one of {', '.join(METRICS)}")


def layer_distance(syn: Tensor, real: Tensor) -> Tensor:
    """The reference's distance for one parameter: sum over output-channel rows of 1 - cosine."""
    if syn.ndim <= 1:
        return syn.new_zeros(())
    syn_rows, real_rows = syn.flatten(1), real.flatten(1)
    cosine = (syn_rows * real_rows).sum(1) / (syn_rows.norm(dim=1) * real_rows.norm(dim=1) + EPS)
    return (1 - cosine).sum()


def gradient_distance(syn: Sequence[Tensor], real: Sequence[Tensor], metric: str = "ours") -> Tensor:
    """Distance between two lists of per-parameter gradients (same order, same shapes)."""
    check_metric(metric)
    if len(syn) != len(real) or not syn:
        raise ValueError(f"cannot match {len(syn)} synthetic gradients with {len(real)} real ones")
    if metric == "ours":
        return torch.stack([layer_distance(s, r) for s, r in zip(syn, real, strict=True)]).sum()
    syn_vec = torch.cat([s.flatten() for s in syn])
    real_vec = torch.cat([r.flatten() for r in real])
    if metric == "mse":
        return ((syn_vec - real_vec) ** 2).sum()
    if metric == "l1":
        return (syn_vec - real_vec).abs().sum()
    return 1 - (syn_vec * real_vec).sum() / (syn_vec.norm() * real_vec.norm() + EPS)


def network_gradients(net: nn.Module, images: Tensor, labels: Tensor, params: Sequence[Tensor],
                      *, create_graph: bool = False) -> list[Tensor]:
    """Gradients of the mean cross-entropy of ``net`` on ``(images, labels)`` with respect to ``params``."""
    loss = F.cross_entropy(net(images), labels)
    return list(torch.autograd.grad(loss, list(params), create_graph=create_graph))


def match_gradients(net: nn.Module, real_x: Tensor, real_y: Tensor, syn_x: Tensor, syn_y: Tensor,
                    metric: str = "ours", params: Sequence[Tensor] | None = None) -> Tensor:
    """The gradient-matching loss of one batch pair, differentiable in ``syn_x``."""
    params = list(net.parameters()) if params is None else list(params)
    real = [g.detach() for g in network_gradients(net, real_x, real_y, params)]
    syn = network_gradients(net, syn_x, syn_y, params, create_graph=True)
    return gradient_distance(syn, real, metric)
