"""The NAS-Bench-201 network: a 3x3 stem, three stages of cells joined by residual reduction blocks.

Written after the reference (D-X-Y/AutoDL-Projects ``xautodl/models``: ``cell_operations.py`` OPS,
``ResNetBasicblock``, ``POOLING``, ``Zero``; ``cell_infers/cells.py`` ``InferCell``;
``cell_infers/tiny_network.py`` ``TinyNetwork``), with the benchmark's settings C=16, N=5:

- stem: 3x3 conv (C channels, no bias), batch norm;
- stage s (s = 1, 2, 3) at C, 2C, 4C channels: N cells, with a reduction block before stages 2 and 3:
  ReLU-conv3x3(stride 2)-BN, ReLU-conv3x3-BN, plus a shortcut of 2x2 average pooling then a 1x1 conv;
- batch norm, ReLU, global average pooling (the embedding), one linear classifier.

A cell has nodes 0 (its input) to 3 (its output); node i is the sum of an operation on every node j < i
(edges ``e{i}_{j}``). Operations: ``none`` (zeros, as the reference's ``x.mul(0)``), ``skip_connect``
(identity), ``nor_conv_1x1`` / ``nor_conv_3x3`` (ReLU, conv without bias, batch norm), ``avg_pool_3x3``
(stride 1, padding 1, padding left out of the average). Inside a cell every edge keeps the channels and
the size, so no operation needs the reference's reshaping variants. The reference takes 3-channel
images; here the stem takes the dataset's channels (the rest is unchanged).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from torch import Tensor, nn

from proxynas.errors import ProxynasError

OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")  # NB201's order
NODES = 4  # node 0 is the cell's input, node 3 its output
EDGES = tuple((i, j) for i in range(1, NODES) for j in range(i))  # (to, from), the arch string's order
CHANNELS = 16  # C
CELLS_PER_STAGE = 5  # N


def edge_name(i: int, j: int) -> str:
    """The dimension of the edge into node ``i`` from node ``j`` (NB201 writes it ``i<-j``)."""
    return f"e{i}_{j}"


class Zero(nn.Module):
    def forward(self, x: Tensor) -> Tensor:
        return x.mul(0.0)


class ReLUConvBN(nn.Sequential):
    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, padding: int) -> None:
        super().__init__(nn.ReLU(inplace=False), nn.Conv2d(c_in, c_out, kernel, stride, padding, bias=False),
                         nn.BatchNorm2d(c_out))


def make_op(name: str, channels: int) -> nn.Module:
    if name == "none":
        return Zero()
    if name == "skip_connect":
        return nn.Identity()
    if name == "nor_conv_1x1":
        return ReLUConvBN(channels, channels, 1, 1, 0)
    if name == "nor_conv_3x3":
        return ReLUConvBN(channels, channels, 3, 1, 1)
    if name == "avg_pool_3x3":
        return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
    raise ValueError(f"unknown NB201 operation {name!r}")


class Cell(nn.Module):
    """One cell: ``ops[(i, j)]`` on the edge into node i from node j."""

    def __init__(self, ops: Mapping[tuple[int, int], str], channels: int) -> None:
        super().__init__()
        self.edges = list(EDGES)
        self.layers = nn.ModuleList(make_op(ops[edge], channels) for edge in self.edges)

    def forward(self, x: Tensor) -> Tensor:
        nodes = [x]
        for i in range(1, NODES):
            nodes.append(sum(layer(nodes[j]) for layer, (to, j) in zip(self.layers, self.edges, strict=True)
                             if to == i))
        return nodes[-1]


class ResidualReduction(nn.Module):
    """The reference's ``ResNetBasicblock`` with stride 2: half the size, ``c_out`` channels."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv_a = ReLUConvBN(c_in, c_out, 3, 2, 1)
        self.conv_b = ReLUConvBN(c_out, c_out, 3, 1, 1)
        self.downsample = nn.Sequential(nn.AvgPool2d(2, 2), nn.Conv2d(c_in, c_out, 1, bias=False))

    def forward(self, x: Tensor) -> Tensor:
        return self.downsample(x) + self.conv_b(self.conv_a(x))


class NB201Network(nn.Module):
    def __init__(self, ops: Mapping[tuple[int, int], str], input_shape: Sequence[int], num_classes: int,
                 channels: int = CHANNELS, cells: int = CELLS_PER_STAGE) -> None:
        super().__init__()
        in_channels, height, width = input_shape
        if height % 4 or width % 4:
            raise ProxynasError(f"the NB201 network halves {height}x{width} images twice, so both sides "
                                "must be multiples of 4", "use a dataset of 8x8, 16x16, 28x28 or 32x32 images")
        self.stem = nn.Sequential(nn.Conv2d(in_channels, channels, 3, padding=1, bias=False),
                                  nn.BatchNorm2d(channels))
        blocks: list[nn.Module] = []
        c = channels
        for stage in range(3):
            if stage:
                blocks.append(ResidualReduction(c, 2 * c))
                c *= 2
            blocks += [Cell(ops, c) for _ in range(cells)]
        self.cells = nn.Sequential(*blocks)
        self.lastact = nn.Sequential(nn.BatchNorm2d(c), nn.ReLU(inplace=True))
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c, num_classes)

    def embed(self, x: Tensor) -> Tensor:
        """The pooled features the classifier sees, (N, 4C)."""
        return self.global_pooling(self.lastact(self.cells(self.stem(x)))).flatten(1)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.embed(x))
