"""G dc_convnet candidates of one shape trained as ONE computation (grouped convolutions).

Candidates with equal depth, width and pooling -- differing in activation, normalization and seed --
share every tensor shape, so a stack of them is one network: model g owns channel block g of every
layer (``groups=G`` convolutions over inputs reshaped ``(G, B, C, H, W) -> (B, G*C, H, W)``), the
norms and activations run once per *run* of neighbouring models that share a kind, and the classifier
is one batched matmul. Models are sorted by (norm, activation) inside the stack so that runs are
contiguous; inputs and outputs keep the caller's order.

Every norm the space offers is per model (batch norm per channel; instance, group and layer norm
within one sample's channels of one model), so applying it to a run of models is exact. Weights are
*copied* from the single models the caller built with ``seeded``: a grouped stack starts from, and
trains to, what a ``ListStack`` of the same models does (up to float rounding).

Runs over contiguous channel blocks were measured against per-channel masks (one sigmoid/slope
expression over all channels): on the CPU, masks cost 6-8x more for the activation step. This is the
GPU path: on a CPU, grouped convolutions are no faster than separate ones (``engine.batching``).
"""

from __future__ import annotations

import itertools
from collections.abc import Hashable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from proxynas.spaces import Config
from search_spaces.dc_convnet_net import (
    ACTIVATIONS,
    NORMS,
    ConvNet,
    feature_shapes,
    first_conv_padding,
    make_activation,
    make_pool,
)


class GroupedLayerNorm(nn.Module):
    """LayerNorm over each model's (C, H, W) for ``models`` neighbouring models: the statistics of
    ``group_norm`` with one group per model, then the per-element affine of ``nn.LayerNorm``."""

    def __init__(self, models: int, shape: Sequence[int], eps: float = 1e-5) -> None:
        super().__init__()
        c, h, w = shape
        self.models, self.eps = models, eps
        self.weight = nn.Parameter(torch.ones(models * c, h, w))
        self.bias = nn.Parameter(torch.zeros(models * c, h, w))

    def forward(self, x: Tensor) -> Tensor:
        return F.group_norm(x, self.models, eps=self.eps) * self.weight + self.bias


def grouped_norm(kind: str, singles: Sequence[nn.Module], shape: Sequence[int]) -> nn.Module:
    """One norm module for neighbouring models whose own norms are ``singles`` (parameters copied)."""
    n, (c, h, w) = len(singles), shape
    if kind == "none":
        return nn.Identity()
    if kind == "batchnorm":
        norm: nn.Module = nn.BatchNorm2d(n * c)
        for name in ("running_mean", "running_var"):
            getattr(norm, name).copy_(torch.cat([getattr(s, name) for s in singles]))
    elif kind == "layernorm":
        norm = GroupedLayerNorm(n, (c, h, w), eps=singles[0].eps)
    elif kind == "instancenorm":
        norm = nn.GroupNorm(n * c, n * c)
    elif kind == "groupnorm":
        norm = nn.GroupNorm(n * singles[0].num_groups, n * c)
    else:
        raise ValueError(kind)
    with torch.no_grad():
        norm.weight.copy_(torch.cat([s.weight for s in singles]))
        norm.bias.copy_(torch.cat([s.bias for s in singles]))
    return norm


class NormAct(nn.Module):
    """Norm then activation for one run of neighbouring models of the same kinds."""

    def __init__(self, norm: nn.Module, act: str) -> None:
        super().__init__()
        self.norm, self.act = norm, make_activation(act)

    def forward(self, x: Tensor) -> Tensor:
        return self.act(self.norm(x))


class GroupedBlock(nn.Module):
    """conv -> per-run norm and activation -> pooling, for all G models at once."""

    def __init__(self, conv: nn.Conv2d, runs: Sequence[NormAct], run_channels: Sequence[int],
                 pool: nn.Module) -> None:
        super().__init__()
        self.conv, self.runs, self.pool = conv, nn.ModuleList(runs), pool
        self.run_channels = list(run_channels)

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv(x)
        if len(self.runs) == 1:
            x = self.runs[0](x)
        else:
            parts = x.split(self.run_channels, 1)
            x = torch.cat([run(part) for run, part in zip(self.runs, parts, strict=True)], 1)
        return self.pool(x)


def layers_of(model: ConvNet) -> list[tuple[nn.Conv2d, nn.Module]]:
    """(conv, norm) of each block of a single ConvNet."""
    children = list(model.features)
    return [(m, children[i + 1]) for i, m in enumerate(children) if isinstance(m, nn.Conv2d)]


def runs_of(kinds: Sequence[Hashable]) -> list[tuple[Hashable, int, int]]:
    """(kind, start, stop) for each maximal run of equal neighbours."""
    out, start = [], 0
    for kind, group in itertools.groupby(kinds):
        size = len(list(group))
        out.append((kind, start, start + size))
        start += size
    return out


class GroupedConvNetStack(nn.Module):
    """A stack (input (G, B, C, H, W), output (G, B, K)) of dc_convnet models of one shape."""

    def __init__(self, models: Sequence[ConvNet], configs: Sequence[Config],
                 input_shape: Sequence[int], num_classes: int) -> None:
        super().__init__()
        shape_keys = {(c["depth"], c["width"], c["pool"]) for c in configs}
        if len(shape_keys) != 1 or len(models) != len(configs) or not models:
            raise ValueError(f"a grouped stack needs models of one (depth, width, pool), got {shape_keys}")
        order = sorted(range(len(models)), key=lambda g: (NORMS.index(configs[g]["norm"]),
                                                          ACTIVATIONS.index(configs[g]["act"])))
        models = [models[g] for g in order]
        configs = [configs[g] for g in order]
        self.size = g_count = len(models)
        self.reordered = order != list(range(g_count))
        self.register_buffer("order", torch.tensor(order), persistent=False)
        self.register_buffer("inverse", torch.argsort(torch.tensor(order)), persistent=False)

        config, channels = configs[0], input_shape[0]
        shapes = feature_shapes(config, input_shape)
        per_model = [layers_of(m) for m in models]
        runs = runs_of([(c["norm"], c["act"]) for c in configs])
        blocks = []
        for d in range(config["depth"]):
            c, h, w = shapes[d]
            pad = first_conv_padding(input_shape[1]) if d == 0 else 1
            conv = nn.Conv2d(g_count * channels, g_count * c, 3, padding=pad, groups=g_count)
            with torch.no_grad():
                conv.weight.copy_(torch.cat([layers[d][0].weight for layers in per_model]))
                conv.bias.copy_(torch.cat([layers[d][0].bias for layers in per_model]))
            norm_acts = [NormAct(grouped_norm(norm, [ls[d][1] for ls in per_model[a:b]], (c, h, w)), act)
                         for (norm, act), a, b in runs]
            pools = config["pool"] != "none" and min(h, w) >= 2
            blocks.append(GroupedBlock(conv, norm_acts, [(b - a) * c for _, a, b in runs],
                                       make_pool(config["pool"]) if pools else nn.Identity()))
            channels = c
        self.blocks = nn.Sequential(*blocks)
        self.run_spans = runs
        self.configs, self.input_shape = configs, tuple(input_shape)
        self.classifier_weight = nn.Parameter(torch.stack([m.classifier.weight.detach() for m in models]))
        self.classifier_bias = nn.Parameter(torch.stack([m.classifier.bias.detach() for m in models]))
        self.num_classes = num_classes

    def __len__(self) -> int:
        return self.size

    @torch.no_grad()
    def single(self, g: int) -> ConvNet:
        """Model ``g`` (in the caller's order) as a stand-alone ConvNet, its current state copied out."""
        p = int(self.inverse[g])
        config = self.configs[p]
        model = ConvNet(config, self.input_shape, self.num_classes).to(self.classifier_weight.device)
        run = next(r for r, (_, a, b) in enumerate(self.run_spans) if a <= p < b)
        local = p - self.run_spans[run][1]
        for block, (conv, norm) in zip(self.blocks, layers_of(model), strict=True):
            c = conv.out_channels
            conv.weight.copy_(block.conv.weight[p * c:(p + 1) * c])
            conv.bias.copy_(block.conv.bias[p * c:(p + 1) * c])
            for name, tensor in itertools.chain(norm.named_parameters(), norm.named_buffers()):
                if name != "num_batches_tracked":
                    tensor.copy_(getattr(block.runs[run].norm, name)[local * c:(local + 1) * c])
        model.classifier.weight.copy_(self.classifier_weight[p])
        model.classifier.bias.copy_(self.classifier_bias[p])
        return model.train(self.training)

    def forward(self, x: Tensor) -> Tensor:
        g_count, batch = x.shape[:2]
        if self.reordered:
            x = x[self.order]
        features = self.blocks(x.transpose(0, 1).reshape(batch, g_count * x.shape[2], *x.shape[3:]))
        logits = torch.einsum("bgf,gkf->gbk", features.reshape(batch, g_count, -1), self.classifier_weight)
        logits = logits + self.classifier_bias[:, None]
        return logits[self.inverse] if self.reordered else logits
