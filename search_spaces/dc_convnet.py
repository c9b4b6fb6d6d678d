"""The ConvNet space of the DC paper's NAS study: depth x width x activation x norm x pooling = 720.

The network follows the reference ``ConvNet`` (VICO-UoE/DatasetCondensation): ``depth`` blocks of
3x3 conv -> norm -> activation -> 2x2 pooling, then one linear classifier. 28x28 inputs are padded to
32x32 by the first conv, as the reference does for MNIST-like data.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import ClassVar

from torch import Tensor, nn

from proxynas.engine.stack import seeded
from proxynas.spaces import Candidate, Choice, Config, SearchSpace, register_space
from search_spaces.pooling import AvgPool2x2

DEPTHS = (1, 2, 3, 4)
WIDTHS = (32, 64, 128, 256)
ACTIVATIONS = ("sigmoid", "relu", "leakyrelu")
NORMS = ("none", "batchnorm", "layernorm", "instancenorm", "groupnorm")
POOLINGS = ("none", "maxpool", "avgpool")

DEFAULT_ID = "d3_w128_relu_instancenorm_avgpool"


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


@register_space
class DCConvNetSpace(SearchSpace):
    name = "dc_convnet"
    dimensions: ClassVar[Mapping[str, Sequence[Choice]]] = {
        "depth": DEPTHS, "width": WIDTHS, "act": ACTIVATIONS, "norm": NORMS, "pool": POOLINGS}

    def format_id(self, config: Config) -> str:
        return f"d{config['depth']}_w{config['width']}_{config['act']}_{config['norm']}_{config['pool']}"

    def parse_config(self, candidate_id: str) -> dict[str, Choice]:
        depth, width, act, norm, pool = candidate_id.split("_")
        if not (depth.startswith("d") and width.startswith("w")):
            raise ValueError(candidate_id)
        return {"depth": int(depth[1:]), "width": int(width[1:]), "act": act, "norm": norm, "pool": pool}

    def build(self, candidate: Candidate, input_shape: Sequence[int], num_classes: int) -> nn.Module:
        return ConvNet(candidate.config, input_shape, num_classes)

    def embed(self, model: nn.Module, images: Tensor) -> Tensor:
        return model.embed(images)

    def layout_key(self, candidate: Candidate) -> str:
        """Candidates that train equally fast in a memory layout: the activation does not matter
        (elementwise), the norm does (``proxynas.engine.layout``)."""
        return f"{self.name}/d{candidate['depth']}_w{candidate['width']}_{candidate['pool']}_{candidate['norm']}"

    def stack_key(self, candidate: Candidate) -> Hashable:
        """Candidates of one (depth, width, pool) have equal tensor shapes: they train as one stack."""
        return candidate["depth"], candidate["width"], candidate["pool"]

    def cost(self, candidate: Candidate, input_shape: Sequence[int]) -> float:
        """FLOPs of the convolutions' forward pass on one image (what torch's FLOP counter counts for
        them; backward costs about twice as much again, norms and activations a share that varies)."""
        channels = input_shape[0]
        flops = 0
        for width, height, breadth in feature_shapes(candidate.config, input_shape)[:-1]:
            flops += 2 * 9 * channels * width * height * breadth
            channels = width
        return float(flops)

    def build_stack(self, candidates: Sequence[Candidate], seeds: Sequence[int],
                    input_shape: Sequence[int], num_classes: int) -> nn.Module:
        """A :class:`~search_spaces.dc_convnet_stack.GroupedConvNetStack` holding exactly the models
        ``seeded`` builds one by one (what the default ``ListStack`` holds, and holds for one model)."""
        from search_spaces.dc_convnet_stack import GroupedConvNetStack  # it imports this module

        if len(candidates) == 1:
            return super().build_stack(candidates, seeds, input_shape, num_classes)
        models = [seeded(lambda c=c: self.build(c, input_shape, num_classes), seed)
                  for c, seed in zip(candidates, seeds, strict=True)]
        return GroupedConvNetStack(models, [c.config for c in candidates], input_shape, num_classes)

    def default(self) -> Candidate:
        return self.parse(DEFAULT_ID)
