"""The condensation papers' evaluation networks, layer for layer as their reference code builds them.

DC/DSA/DM (VICO-UoE/DatasetCondensation ``networks.py``, built by ``utils.get_network``): ``MLP``,
``LeNet``, ``AlexNet``/``AlexNetBN``, ``VGG11``/``VGG11BN``, ``ResNet18``/``ResNet18BN`` and the
average-pooling ``ResNet18_AP``/``ResNet18BN_AP``; IDC (snu-mllab/Efficient-Dataset-Condensation
``models/resnet_ap.py``): ``ResNetAP`` of depth 10 in its two shapes (widths 32..256 for CIFAR, 64..512
for MNIST, FashionMNIST, SVHN and ImageNet). The ConvNets are ``dc_convnet``'s (``dc_eval.py``).

Modules are registered in the references' order, so parameters line up one to one with theirs
(``tests/test_dc_eval.py`` compares them with the references' numbers, ``tests/golden/``). The
references keep their quirks: the DC networks hard-code their classifier's input for 1x28x28 and
3x32x32 images, so :class:`EvalNet` resizes any other input (digits' 8x8) to 28x28 (one channel) or
32x32 (otherwise) first, bilinearly; ``ResNetAP`` pools globally and takes any size of 16 or more as it
is (smaller ones are resized the same way: see :class:`ResNetAP10`). ``embed``
is what the classifier sees; the reference's MLP and LeNet have none, here it is the last hidden layer.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch.nn.functional as F
from torch import Tensor, nn


def reference_size(channels: int) -> int:
    """The input side the DC networks are written for: 28 for one channel (MNIST), 32 otherwise."""
    return 28 if channels == 1 else 32


def norm2d(kind: str, channels: int) -> nn.Module:
    """The references' norms: instance norm is ``GroupNorm(C, C)``, anything else ``BatchNorm2d``."""
    return nn.GroupNorm(channels, channels, affine=True) if kind == "instancenorm" else nn.BatchNorm2d(channels)


class EvalNet(nn.Module):
    """A network with ``embed`` (features before the classifier) and ``classify``; inputs of another
    size than ``size`` are resized to it first (None: any size as it is)."""

    size: int | None = None
    smallest: int = 0  # with ``size`` None: inputs with a side below this are resized to the reference size

    def fit_input(self, x: Tensor) -> Tensor:
        size = self.size
        if size is None and min(x.shape[-2:]) < self.smallest:
            size = reference_size(x.shape[-3])
        if size is None or tuple(x.shape[-2:]) == (size, size):
            return x
        return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)

    def features(self, x: Tensor) -> Tensor:
        raise NotImplementedError

    def classify(self, features: Tensor) -> Tensor:
        raise NotImplementedError

    def embed(self, x: Tensor) -> Tensor:
        return self.features(self.fit_input(x))

    def forward(self, x: Tensor) -> Tensor:
        return self.classify(self.embed(x))


class MLP(EvalNet):
    def __init__(self, channels: int, num_classes: int) -> None:
        super().__init__()
        self.size = reference_size(channels)
        self.fc_1 = nn.Linear(channels * self.size * self.size, 128)
        self.fc_2 = nn.Linear(128, 128)
        self.fc_3 = nn.Linear(128, num_classes)

    def features(self, x: Tensor) -> Tensor:
        return F.relu(self.fc_2(F.relu(self.fc_1(x.flatten(1)))))

    def classify(self, features: Tensor) -> Tensor:
        return self.fc_3(features)


class LeNet(EvalNet):
    def __init__(self, channels: int, num_classes: int) -> None:
        super().__init__()
        self.size = reference_size(channels)
        self.body = nn.Sequential(
            nn.Conv2d(channels, 6, kernel_size=5, padding=2 if channels == 1 else 0), nn.ReLU(),
            nn.MaxPool2d(2, 2), nn.Conv2d(6, 16, kernel_size=5), nn.ReLU(), nn.MaxPool2d(2, 2))
        self.fc_1 = nn.Linear(16 * 5 * 5, 120)
        self.fc_2 = nn.Linear(120, 84)
        self.fc_3 = nn.Linear(84, num_classes)

    def features(self, x: Tensor) -> Tensor:
        return F.relu(self.fc_2(F.relu(self.fc_1(self.body(x).flatten(1)))))

    def classify(self, features: Tensor) -> Tensor:
        return self.fc_3(features)


class AlexNet(EvalNet):
    """``AlexNet`` (no norm) or ``AlexNetBN`` (batch norm after every conv)."""

    def __init__(self, channels: int, num_classes: int, *, batchnorm: bool = False) -> None:
        super().__init__()
        self.size = reference_size(channels)
        layers: list[nn.Module] = []
        specs = [(channels, 128, 5, 4 if channels == 1 else 2, True), (128, 192, 5, 2, True),
                 (192, 256, 3, 1, False), (256, 192, 3, 1, False), (192, 192, 3, 1, True)]
        for c_in, c_out, kernel, pad, pool in specs:
            layers.append(nn.Conv2d(c_in, c_out, kernel_size=kernel, padding=pad))
            if batchnorm:
                layers.append(nn.BatchNorm2d(c_out))
            layers.append(nn.ReLU())
            if pool:
                layers.append(nn.MaxPool2d(2, 2))
        self.body = nn.Sequential(*layers)
        self.fc = nn.Linear(192 * 4 * 4, num_classes)

    def features(self, x: Tensor) -> Tensor:
        return self.body(x).flatten(1)

    def classify(self, features: Tensor) -> Tensor:
        return self.fc(features)


VGG11_CFG: tuple[int | str, ...] = (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M")


class VGG11(EvalNet):
    """``VGG11`` (instance norm, the reference's default) or ``VGG11BN``; the first conv pads 3 for one
    channel (28 -> 32), as the reference's does."""

    def __init__(self, channels: int, num_classes: int, norm: str = "instancenorm") -> None:
        super().__init__()
        self.size = reference_size(channels)
        layers: list[nn.Module] = []
        c_in = channels
        for i, v in enumerate(VGG11_CFG):
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
                continue
            layers += [nn.Conv2d(c_in, int(v), kernel_size=3, padding=3 if channels == 1 and i == 0 else 1),
                       norm2d(norm, int(v)), nn.ReLU()]
            c_in = int(v)
        self.body = nn.Sequential(*layers)
        self.classifier = nn.Linear(512, num_classes)

    def features(self, x: Tensor) -> Tensor:
        return self.body(x).flatten(1)

    def classify(self, features: Tensor) -> Tensor:
        return self.classifier(features)


class BasicBlock(nn.Module):
    """The DC reference's ResNet block; ``avgpool`` is its ``_AP`` form (a stride-1 conv, then 2x2
    average pooling, in the main path and the shortcut)."""

    def __init__(self, c_in: int, c_out: int, stride: int, norm: str, *, avgpool: bool = False) -> None:
        super().__init__()
        self.stride, self.avgpool = stride, avgpool
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=1 if avgpool else stride, padding=1, bias=False)
        self.bn1 = norm2d(norm, c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, stride=1, padding=1, bias=False)
        self.bn2 = norm2d(norm, c_out)
        self.shortcut = nn.Sequential()
        if stride != 1 or c_in != c_out:
            if avgpool:
                self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=1, bias=False),
                                              nn.AvgPool2d(2, 2), norm2d(norm, c_out))
            else:
                self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False),
                                              norm2d(norm, c_out))

    def forward(self, x: Tensor) -> Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        if self.avgpool and self.stride != 1:
            out = F.avg_pool2d(out, kernel_size=2, stride=2)
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNet18(EvalNet):
    """``ResNet18`` / ``ResNet18BN`` (4x4 average pooling, then the classifier) or, with ``avgpool``,
    ``ResNet18_AP`` / ``ResNet18BN_AP`` (no final pooling: the classifier reads the 3x3 (one channel)
    or 4x4 map of 512 channels, as the reference's does)."""

    def __init__(self, channels: int, num_classes: int, norm: str = "instancenorm", *, avgpool: bool = False) -> None:
        super().__init__()
        self.size, self.avgpool = reference_size(channels), avgpool
        self.conv1 = nn.Conv2d(channels, 64, 3, stride=1, padding=1, bias=False)
        self.bn1 = norm2d(norm, 64)
        c_in, stages = 64, []
        for c_out, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
            stages.append(nn.Sequential(BasicBlock(c_in, c_out, stride, norm, avgpool=avgpool),
                                        BasicBlock(c_out, c_out, 1, norm, avgpool=avgpool)))
            c_in = c_out
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        side = (3 if channels == 1 else 4) if avgpool else 1
        self.classifier = nn.Linear(512 * side * side, num_classes)

    def features(self, x: Tensor) -> Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer4(self.layer3(self.layer2(self.layer1(out))))
        if not self.avgpool:
            out = F.avg_pool2d(out, 4)
        return out.flatten(1)

    def classify(self, features: Tensor) -> Tensor:
        return self.classifier(features)


class APBlock(nn.Module):
    """IDC's ``BasicBlock``: stride-1 convs, 2x2 average pooling after the first where it downsamples."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.stride = stride
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1, bias=False)
        self.bn1 = nn.GroupNorm(c_out, c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.bn2 = nn.GroupNorm(c_out, c_out)
        self.downsample: nn.Module | None = None
        if stride != 1 or c_in != c_out:
            self.downsample = nn.Sequential(nn.Conv2d(c_in, c_out, 1, bias=False),
                                            nn.AvgPool2d(stride, stride), nn.GroupNorm(c_out, c_out))

    def forward(self, x: Tensor) -> Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        if self.stride != 1:
            out = F.avg_pool2d(out, kernel_size=self.stride, stride=self.stride)
        out = self.bn2(self.conv2(out))
        residual = x if self.downsample is None else self.downsample(x)
        return F.relu(out + residual)


class ResNetAP10(EvalNet):
    """IDC's ``ResNetAP`` of depth 10 with instance norm (its default) for images up to 64x64 (its
    ``small`` intro: one 3x3 conv, no pooling): one block per stage of widths ``widths``, global average
    pooling. IDC builds widths (32, 64, 128, 256) for CIFAR and (64, 128, 256, 512) for every other
    dataset. Initialised as IDC does: conv weights N(0, 2 / (k*k*C_out)), norms 1 and 0. It takes any
    size as IDC does, except sides below 16 (digits' 8x8): its last stage would see 1x1 maps, which
    instance norm turns into constants (the output would not depend on the image), so those are resized
    to 28x28 (one channel) or 32x32 like the DC networks' inputs."""

    smallest = 16

    def __init__(self, channels: int, num_classes: int, widths: Sequence[int] = (64, 128, 256, 512)) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, widths[0], 3, padding=1, bias=False)  # IDC's layer0 (IntroBlock)
        self.bn1 = nn.GroupNorm(widths[0], widths[0])
        c_in, stages = widths[0], []
        for i, c_out in enumerate(widths):
            stages.append(nn.Sequential(APBlock(c_in, c_out, 1 if i == 0 else 2)))
            c_in = c_out
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.fc = nn.Linear(widths[-1], num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                m.weight.data.normal_(0, math.sqrt(2.0 / (m.kernel_size[0] * m.kernel_size[1] * m.out_channels)))

    def features(self, x: Tensor) -> Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer4(self.layer3(self.layer2(self.layer1(out))))
        return F.avg_pool2d(out, out.shape[-1]).flatten(1)

    def classify(self, features: Tensor) -> Tensor:
        return self.fc(features)
