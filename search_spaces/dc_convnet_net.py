"""The DC paper's ConvNet (the network of the ``dc_convnet`` space), its layers and feature shapes.

The network follows the reference ``ConvNet`` (VICO-UoE/DatasetCondensation): ``depth`` blocks of
3x3 conv -> norm -> activation -> 2x2 pooling, then one linear classifier. 28x28 inputs are padded to
32x32 by the first conv, as the reference does for MNIST-like data. :mod:`search_spaces.dc_convnet` (the
space) and :mod:`search_spaces.dc_convnet_stack` (its grouped stacks) both build on it.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from proxynas.spaces import Config
from search_spaces.pooling import AvgPool2x2

DEPTHS = (1, 2, 3, 4)
WIDTHS = (32, 64, 128, 256)
ACTIVATIONS = ("sigmoid", "relu", "leakyrelu")
NORMS = ("none", "batchnorm", "layernorm", "instancenorm", "groupnorm")
POOLINGS = ("none", "maxpool", "avgpool")


def first_conv_padding(height: int) -> int:
    """Padding of the first conv: 3 turns 28x28 into 32x32 (the reference's MNIST rule), else 1."""
    return 3 if height == 28 else 1


def make_norm(kind: str, channels: int, height: int, width: int) -> nn.Module:
    if kind == "batchnorm":
        return nn.BatchNorm2d(channels)
    if kind == "layernorm":
        return nn.LayerNorm([channels, height, width])
    if kind == "instancenorm":
        return nn.GroupNorm(channels, channels)
    if kind == "groupnorm":
        return nn.GroupNorm(4, channels)
    if kind == "none":
        return nn.Identity()
    raise ValueError(kind)


def make_activation(kind: str) -> nn.Module:
    return {"sigmoid": nn.Sigmoid, "relu": nn.ReLU, "leakyrelu": lambda: nn.LeakyReLU(0.01)}[kind]()


def make_pool(kind: str) -> nn.Module:
    return {"maxpool": nn.MaxPool2d(2, 2), "avgpool": AvgPool2x2()}[kind]


def feature_shapes(config: Config, input_shape: Sequence[int]) -> list[tuple[int, int, int]]:
    """(C, H, W) after each block's conv, and the final (C, H, W) fed to the classifier, last."""
    _, h, w = input_shape
    pad = first_conv_padding(h)
    h, w = h + 2 * pad - 2, w + 2 * pad - 2
    shapes = []
    for _ in range(config["depth"]):
        shapes.append((config["width"], h, w))
        if config["pool"] != "none" and min(h, w) >= 2:
            h, w = h // 2, w // 2
    shapes.append((config["width"], h, w))
    return shapes


class ConvNet(nn.Module):
    def __init__(self, config: Config, input_shape: Sequence[int], num_classes: int) -> None:
        super().__init__()
        channels = input_shape[0]
        shapes = feature_shapes(config, input_shape)
        layers: list[nn.Module] = []
        for d in range(config["depth"]):
            c, h, w = shapes[d]
            pad = first_conv_padding(input_shape[1]) if d == 0 else 1
            layers += [nn.Conv2d(channels, c, 3, padding=pad),
                       make_norm(config["norm"], c, h, w),
                       make_activation(config["act"])]
            if config["pool"] != "none" and min(h, w) >= 2:
                layers.append(make_pool(config["pool"]))
            channels = c
        self.features = nn.Sequential(*layers)
        c, h, w = shapes[-1]
        self.classifier = nn.Linear(c * h * w, num_classes)

    def embed(self, x: Tensor) -> Tensor:
        """The flattened output of the last block: what the classifier sees."""
        return self.features(x).flatten(1)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.embed(x))
