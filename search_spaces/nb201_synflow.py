"""synflow of many NB201 cells in one pass (the batched form ``proxynas score synflow --space nb201`` uses).

With BatchNorm off, positive weights and an all-ones input, every ReLU passes what it gets, so each weight's
|w * dR/dw| is positive and a layer's sum of them is <g, y>: its output y (without bias) times the gradient
g of the summed logits R with respect to it. Summed over layers that is the sum over input-output paths
of (weighted layers on the path) x (the path's product of weights), which one forward pass computes
(:class:`_Pass`). The cells of a chunk are the batch dimension: every operation of an edge runs once on
the cells that chose it; no per-layer Python loop per cell, and the input is placed once.

The weights come from one bank drawn from the seed (torch's default initialisation, uniform within
1/sqrt(fan-in)): every cell gets the same draw at the same place (stage, cell, edge, operation), so cells
are compared on the same initialisation, as they are on the same minibatch. :func:`bank_network` builds
the ordinary network of a cell with those weights: the references' synflow on it gives this pass's number
(``tests/test_zerocost_batched.py``).
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from proxynas.spaces import Candidate, SearchSpace
from proxynas.zerocost.measure import Probe
from proxynas.zerocost.score import batched_form
from search_spaces.nb201_net import CELLS_PER_STAGE, CHANNELS, EDGES, OPS, NB201Network, edge_name

CONV3, CONV1, SKIP, POOL = (OPS.index(o) for o in ("nor_conv_3x3", "nor_conv_1x1", "skip_connect", "avg_pool_3x3"))


@functools.lru_cache(maxsize=4)
def bank(seed: int, in_channels: int, num_classes: int) -> dict[str, Tensor]:
    """float64 weights of every place of the network, drawn from ``seed`` in a fixed order."""
    generator = torch.Generator().manual_seed(seed)

    def draw(*shape: int, fan_in: int | None = None) -> Tensor:
        bound = 1.0 / math.sqrt(fan_in if fan_in is not None else math.prod(shape[1:]))
        return (torch.rand(shape, generator=generator, dtype=torch.float64) * 2 - 1) * bound

    out = {"stem": draw(CHANNELS, in_channels, 3, 3)}
    c = CHANNELS
    for stage in range(3):
        if stage:
            out[f"r{stage}.a"], out[f"r{stage}.b"] = draw(2 * c, c, 3, 3), draw(2 * c, 2 * c, 3, 3)
            out[f"r{stage}.down"] = draw(2 * c, c, 1, 1)
            c *= 2
        for k in range(CELLS_PER_STAGE):
            for e in range(len(EDGES)):
                out[f"s{stage}.k{k}.e{e}.conv3"] = draw(c, c, 3, 3)
                out[f"s{stage}.k{k}.e{e}.conv1"] = draw(c, c, 1, 1)
    out["classifier.weight"] = draw(num_classes, c)
    out["classifier.bias"] = draw(num_classes, fan_in=c)
    return out


def bank_network(candidate: Candidate, seed: int, input_shape: Sequence[int], num_classes: int) -> NB201Network:
    """The ordinary NB201 network of ``candidate`` (float64) holding the bank's weights."""
    ops = {(i, j): str(candidate[edge_name(i, j)]) for i, j in EDGES}
    model = NB201Network(ops, input_shape, num_classes).double()
    weights = bank(seed, input_shape[0], num_classes)
    with torch.no_grad():
        model.stem[0].weight.copy_(weights["stem"])
        index = 0
        for stage in range(3):
            if stage:
                block = model.cells[index]
                block.conv_a[1].weight.copy_(weights[f"r{stage}.a"])
                block.conv_b[1].weight.copy_(weights[f"r{stage}.b"])
                block.downsample[1].weight.copy_(weights[f"r{stage}.down"])
                index += 1
            for k in range(CELLS_PER_STAGE):
                for e, layer in enumerate(model.cells[index].layers):
                    op = ops[EDGES[e]]
                    if op in ("nor_conv_3x3", "nor_conv_1x1"):
                        layer[1].weight.copy_(weights[f"s{stage}.k{k}.e{e}.conv{op[-1]}"])
                index += 1
        model.classifier.weight.copy_(weights["classifier.weight"])
        model.classifier.bias.copy_(weights["classifier.bias"])
    return model


DTYPE = torch.float32  # measured against the float64 references: relative difference <= 1e-5 (tests)
SCALE = 2.0 ** -64  # the input's scale: keeps float32 far from overflow (scores reach 1e50); undone exactly


def _box_sum(x: Tensor) -> Tensor:
    """The sum of each 3x3 neighbourhood, zeros outside."""
    p = F.pad(x, (1, 1, 1, 1))
    rows = p[..., :-2, :] + p[..., 1:-1, :] + p[..., 2:, :]
    return rows[..., :-2] + rows[..., 1:-1] + rows[..., 2:]


@functools.lru_cache(maxsize=4)
def positive_bank(seed: int, in_channels: int, num_classes: int, dtype: torch.dtype) -> dict[str, Tensor]:
    return {k: v.abs().to(dtype) for k, v in bank(seed, in_channels, num_classes).items()}


class _Pass:
    """Forward-mode synflow of G cells: beside each activation v (the sum of every path's product of weights
    up to it) runs u, the same sum with each path counted once per weighted layer on it. Weighted layers
    map (v, u) to (Wv, W(u + v)), everything else is linear and applied to both; all values are positive,
    so every ReLU passes them unchanged. The sum of the output's u is then the sum over weighted layers of
    <g, y>, the synflow. The pair runs as one batch of 2G: no backward pass, no stored activations."""

    def __init__(self, weights: dict[str, Tensor], ops: Tensor) -> None:
        self.w = weights
        self.ops = ops
        self.inverse_counts: Tensor | None = None

    def pool(self, x: Tensor) -> Tensor:
        """NB201's 3x3 average pooling (stride 1, padding 1, padding left out of the count) as a box sum
        over the zero-padded input times 1 / the count of real inputs; torch's avg_pool2d with
        ``count_include_pad=False`` is several times slower on the CPU."""
        if self.inverse_counts is None or self.inverse_counts.shape[-2:] != x.shape[-2:]:
            ones = torch.ones(1, 1, *x.shape[-2:], dtype=x.dtype)
            self.inverse_counts = 1.0 / _box_sum(ones)
        return _box_sum(x) * self.inverse_counts

    def conv(self, vu: Tensor, weight: str, **kw: int) -> Tensor:
        v, u = vu.chunk(2)
        return F.conv2d(torch.cat([v, u + v]), self.w[weight], **kw)

    def cell(self, h: Tensor, stage: int, k: int) -> Tensor:
        """``h`` is (2G, C, H, W): v of the G cells, then their u."""
        nodes = [h]
        for i in range(1, 4):
            node = torch.zeros_like(h)
            for e, (to, j) in enumerate(EDGES):
                if to != i:
                    continue
                x, choice = nodes[j], self.ops[:, e]
                for op in (SKIP, CONV1, CONV3, POOL):
                    cells = torch.nonzero(choice == op).flatten()
                    if len(cells) == 0:
                        continue
                    rows = torch.cat([cells, cells + len(choice)])  # their v and their u
                    part = x[rows]
                    if op == CONV3:
                        part = self.conv(part, f"s{stage}.k{k}.e{e}.conv3", padding=1)
                    elif op == CONV1:
                        part = self.conv(part, f"s{stage}.k{k}.e{e}.conv1")
                    elif op == POOL:
                        part = self.pool(part)
                    node.index_add_(0, rows, part)
            nodes.append(node)
        return nodes[-1]

    @torch.no_grad()
    def run(self, images: Tensor) -> Tensor:
        """Each cell's synflow (float64) for ``images`` of ones."""
        h = torch.cat([images, torch.zeros_like(images)]) * SCALE
        h = self.conv(h, "stem", padding=1)
        for stage in range(3):
            if stage:
                b = self.conv(self.conv(h, f"r{stage}.a", stride=2, padding=1), f"r{stage}.b", padding=1)
                h = self.conv(F.avg_pool2d(h, 2, 2), f"r{stage}.down") + b
            for k in range(CELLS_PER_STAGE):
                h = self.cell(h, stage, k)
        v, u = h.mean((2, 3)).chunk(2)
        u_out = (u + v) @ self.w["classifier.weight"].t()  # the bias is no weight and adds nothing to u
        return u_out.double().sum(1) / SCALE


@batched_form("synflow", "nb201")
def synflow_nb201(space: SearchSpace, candidates: Sequence[Candidate], probe: Probe,
                  seed: int) -> list[tuple[float, float]]:
    """one weight bank drawn from the seed, shared by every cell at the same place"""
    start = time.perf_counter()
    weights = positive_bank(seed, probe.input_shape[0], probe.num_classes, DTYPE)
    ops = torch.tensor([[OPS.index(str(c[edge_name(i, j)])) for i, j in EDGES] for c in candidates])
    images = torch.ones(len(candidates), *probe.input_shape, dtype=DTYPE)
    scores = _Pass(weights, ops).run(images).tolist()
    share = (time.perf_counter() - start) / len(candidates)
    return [(s, share) for s in scores]
