"""G NAS-Bench-201 networks of ANY cells trained as ONE computation: edges grouped by operation.

Every NB201 network has the same skeleton (stem, 3 stages of 5 cells, 2 reductions, classifier) and the
same tensor shapes; only the operation on each of a cell's 6 edges differs. So a stack of G networks is
one network whose activations are ``(B, G*C, H, W)``, model g owning channel block g (as dc_convnet's
grouped stack, ``search_spaces.dc_convnet_stack``): the stem, the reductions and the classifier are
grouped convolutions (``groups=G``), per-channel batch norms and one batched matmul. On each edge of
each cell the models are split by the operation they put there: the models of one operation run as one
grouped module on their channel blocks (gathered with one ``index_select`` unless every model has that
operation), ``none`` contributes nothing, and one more ``index_select`` puts the blocks back in model
order. A node is the sum of its edges in the reference's order, so the number of kernels per step does
not grow with G: a stack of 64 cells launches about as many as one network does five times over.

Everything is per model (convolutions per group, batch norm per channel, pooling per channel, the
sums elementwise), so the stack computes what each network computes alone, to float rounding (the
grouped kernels add in another order). Weights are *copied* from the single networks the caller built
with ``seeded``, so the stack starts where a ``ListStack`` of them starts. One difference: a ``none``
edge adds nothing where the reference adds ``x * 0``, the same number unless ``x`` is inf or NaN (a
model that has already diverged).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from search_spaces.nb201_net import EDGES, NODES, NB201Network, ReLUConvBN, ResidualReduction


def grouped_conv(singles: Sequence[nn.Conv2d]) -> nn.Conv2d:
    """One convolution with ``groups=len(singles)`` holding each single one's weights in order."""
    first, n = singles[0], len(singles)
    conv = nn.Conv2d(n * first.in_channels, n * first.out_channels, first.kernel_size, first.stride,
                     first.padding, groups=n, bias=first.bias is not None)
    with torch.no_grad():
        conv.weight.copy_(torch.cat([s.weight for s in singles]))
        if conv.bias is not None:
            conv.bias.copy_(torch.cat([s.bias for s in singles]))
    return conv


def grouped_batchnorm(singles: Sequence[nn.BatchNorm2d]) -> nn.BatchNorm2d:
    """One batch norm over the channels of all ``singles`` (statistics are per channel: exact)."""
    first = singles[0]
    norm = nn.BatchNorm2d(len(singles) * first.num_features, first.eps, first.momentum)
    with torch.no_grad():
        for name in ("weight", "bias", "running_mean", "running_var"):
            getattr(norm, name).copy_(torch.cat([getattr(s, name) for s in singles]))
    return norm


def grouped_relu_conv_bn(singles: Sequence[ReLUConvBN]) -> ReLUConvBN:
    """A ``ReLUConvBN`` (same module type, hence the same forward) over the models of ``singles``."""
    module = ReLUConvBN.__new__(ReLUConvBN)
    nn.Sequential.__init__(module, nn.ReLU(inplace=False), grouped_conv([s[1] for s in singles]),
                           grouped_batchnorm([s[2] for s in singles]))
    return module


def grouped_op(name: str, singles: Sequence[nn.Module]) -> nn.Module:
    if name in ("nor_conv_1x1", "nor_conv_3x3"):
        return grouped_relu_conv_bn(singles)  # type: ignore[arg-type]
    if name == "avg_pool_3x3":
        return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
    if name == "skip_connect":
        return nn.Identity()
    raise ValueError(name)


def channel_index(models: Sequence[int], channels: int) -> Tensor:
    return torch.cat([torch.arange(g * channels, (g + 1) * channels) for g in models])


def gather_blocks(x: Tensor, indices: Sequence[Tensor]) -> list[Tensor]:
    return [x.index_select(1, index) for index in indices]


def scatter_blocks(parts: Sequence[Tensor], inverse: Tensor, none_channels: int) -> Tensor:
    """``parts`` (and ``none_channels`` zeros) put back in model order: one gather by ``inverse``."""
    if none_channels:
        first = parts[0]
        parts = [*parts, first.new_zeros(first.shape[0], none_channels, *first.shape[2:])]
    return torch.cat(parts, 1).index_select(1, inverse)


class GatherBlocks(torch.autograd.Function):
    """The channel blocks of each operation's models (``indices``, which with the ``none`` models'
    partition the channels). Its gradient is :func:`scatter_blocks`: a permutation's inverse, one copy,
    where autograd's own ``index_select`` backward would fill a zero tensor of the input's size and
    ``index_add_`` into it once per operation (most of a grouped stack's time on the CPU)."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, inverse: Tensor, none_channels: int, *indices: Tensor) -> tuple[Tensor, ...]:
        ctx.save_for_backward(inverse)
        ctx.none_channels = none_channels
        return tuple(gather_blocks(x, indices))

    @staticmethod
    def backward(ctx: Any, *grads: Tensor) -> tuple[Tensor | None, ...]:
        (inverse,) = ctx.saved_tensors
        return (scatter_blocks(grads, inverse, ctx.none_channels), None, None, *(None for _ in grads))


class ScatterBlocks(torch.autograd.Function):
    """:func:`scatter_blocks` with :func:`gather_blocks` as its gradient (the adjoint of :class:`GatherBlocks`)."""

    @staticmethod
    def forward(ctx: Any, inverse: Tensor, none_channels: int, count: int, *parts_and_indices: Tensor) -> Tensor:
        parts, indices = parts_and_indices[:count], parts_and_indices[count:]
        ctx.save_for_backward(*indices)
        ctx.count = count
        return scatter_blocks(parts, inverse, none_channels)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        indices = ctx.saved_tensors
        return (None, None, None, *gather_blocks(grad, indices), *(None for _ in indices))


class GroupedEdge(nn.Module):
    """One edge of one cell position for G models: each operation once, over the models that have it."""

    def __init__(self, ops: Sequence[str], singles: Sequence[nn.Module], channels: int) -> None:
        super().__init__()
        by_op: dict[str, list[int]] = {}
        for g, op in enumerate(ops):
            by_op.setdefault(op, []).append(g)
        self.whole = len(by_op) == 1  # every model has the same operation: no gather, no scatter
        self.none = "none" in by_op
        self.names = [op for op in by_op if op != "none"]
        self.ops = nn.ModuleList(grouped_op(op, [singles[g] for g in by_op[op]]) for op in self.names)
        self.none_channels = len(by_op.get("none", ())) * channels
        order = [g for op in [*self.names, "none"] for g in by_op.get(op, ())]
        for k, op in enumerate(self.names):
            self.register_buffer(f"index{k}", channel_index(by_op[op], channels), persistent=False)
        self.register_buffer("inverse", torch.argsort(channel_index(order, channels)), persistent=False)

    def forward(self, x: Tensor) -> Tensor | None:
        """The edge's output, or None when it is ``none`` for every model."""
        if self.whole:
            return None if self.none else self.ops[0](x)
        indices = [getattr(self, f"index{k}") for k in range(len(self.ops))]
        parts = GatherBlocks.apply(x, self.inverse, self.none_channels, *indices)
        outs = [op(part) for op, part in zip(self.ops, parts, strict=True)]
        return ScatterBlocks.apply(self.inverse, self.none_channels, len(outs), *outs, *indices)


class GroupedCell(nn.Module):
    def __init__(self, cells: Sequence[nn.Module], ops: Sequence[dict[tuple[int, int], str]], channels: int) -> None:
        super().__init__()
        self.edges = list(EDGES)
        self.layers = nn.ModuleList(
            GroupedEdge([o[edge] for o in ops], [cell.layers[e] for cell in cells], channels)
            for e, edge in enumerate(self.edges))

    def forward(self, x: Tensor) -> Tensor:
        nodes = [x]
        for i in range(1, NODES):
            total: Tensor | None = None
            for layer, (to, j) in zip(self.layers, self.edges, strict=True):
                if to == i:
                    out = layer(nodes[j])
                    if out is not None:
                        total = out if total is None else total + out
            nodes.append(torch.zeros_like(x) if total is None else total)
        return nodes[-1]


class GroupedReduction(ResidualReduction):
    """The reference's residual reduction block for G models (same forward)."""

    def __init__(self, singles: Sequence[ResidualReduction]) -> None:
        nn.Module.__init__(self)
        self.conv_a = grouped_relu_conv_bn([s.conv_a for s in singles])
        self.conv_b = grouped_relu_conv_bn([s.conv_b for s in singles])
        self.downsample = nn.Sequential(nn.AvgPool2d(2, 2), grouped_conv([s.downsample[1] for s in singles]))


class GroupedNB201Stack(nn.Module):
    """A stack (input (G, B, C, H, W), output (G, B, K)) of NB201 networks of any cells."""

    def __init__(self, models: Sequence[NB201Network], ops: Sequence[dict[tuple[int, int], str]]) -> None:
        super().__init__()
        if not models or len(models) != len(ops):
            raise ValueError("a grouped NB201 stack needs one cell description per model")
        self.size = len(models)
        self.stem = nn.Sequential(grouped_conv([m.stem[0] for m in models]),
                                  grouped_batchnorm([m.stem[1] for m in models]))
        blocks: list[nn.Module] = []
        channels = models[0].stem[0].out_channels
        for position, block in enumerate(models[0].cells):
            singles = [m.cells[position] for m in models]
            if isinstance(block, ResidualReduction):
                blocks.append(GroupedReduction(singles))
                channels = block.conv_b[1].out_channels
            else:
                blocks.append(GroupedCell(singles, ops, channels))
        self.cells = nn.Sequential(*blocks)
        self.lastact = nn.Sequential(grouped_batchnorm([m.lastact[0] for m in models]), nn.ReLU(inplace=True))
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier_weight = nn.Parameter(torch.stack([m.classifier.weight.detach() for m in models]))
        self.classifier_bias = nn.Parameter(torch.stack([m.classifier.bias.detach() for m in models]))

    def __len__(self) -> int:
        return self.size

    def forward(self, x: Tensor) -> Tensor:
        g_count, batch = x.shape[:2]
        x = x.transpose(0, 1).reshape(batch, g_count * x.shape[2], *x.shape[3:])
        features = self.global_pooling(self.lastact(self.cells(self.stem(x)))).reshape(batch, g_count, -1)
        return torch.einsum("bgf,gkf->gbk", features, self.classifier_weight) + self.classifier_bias[:, None]
