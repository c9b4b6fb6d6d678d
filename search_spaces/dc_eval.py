"""The condensation papers' evaluation networks as one space, ``dc_eval``: one dimension, ``net``.

The networks every condensation paper trains on its sets after the ConvNet (the cross-architecture
tables): the DC/DSA/DM reference's ``utils.get_network`` models (MLP, ConvNet, LeNet, AlexNet, VGG11,
ResNet18 and the BN variants DM's ``eval_mode B`` uses: ConvNetBN, AlexNetBN, VGG11BN, ResNet18BN; the
average-pooling ResNet18_AP / ResNet18BN_AP of its ``networks.py``) and IDC's ResNetAP-10 (widths
64..512, what IDC builds for MNIST, FashionMNIST and SVHN; ``resnetap10cifar``: widths 32..256, what it
builds for CIFAR-10/100). The networks are :mod:`search_spaces.dc_eval_nets`; ``convnet`` and
``convnetbn`` are ``dc_convnet``'s ``d3_w128_relu_instancenorm_avgpool`` and ``..._batchnorm_avgpool``
(:data:`SAME_AS` says so, so a matrix marks them as the proxy's own network).

The reference's norms are kept: instance norm for VGG11 and ResNet18 (``GroupNorm(C, C)``), none for
AlexNet and LeNet, batch norm for the ``bn`` variants. Every model trains alone (one per stack).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import ClassVar

import torch
from torch import Tensor, nn
from torch.utils.flop_counter import FlopCounterMode

from proxynas.spaces import Candidate, Choice, Config, SearchSpace, register_space
from search_spaces.dc_convnet import ConvNet, DCConvNetSpace
from search_spaces.dc_eval_nets import MLP, VGG11, AlexNet, LeNet, ResNet18, ResNetAP10

CONVNET = {"depth": 3, "width": 128, "act": "relu", "pool": "avgpool"}

Builder = Callable[[Sequence[int], int], nn.Module]  # (input shape (C, H, W), classes) -> a fresh model

BUILDERS: dict[str, Builder] = {
    "mlp": lambda s, k: MLP(s[0], k),
    "convnet": lambda s, k: ConvNet({**CONVNET, "norm": "instancenorm"}, s, k),
    "convnetbn": lambda s, k: ConvNet({**CONVNET, "norm": "batchnorm"}, s, k),
    "lenet": lambda s, k: LeNet(s[0], k),
    "alexnet": lambda s, k: AlexNet(s[0], k),
    "alexnetbn": lambda s, k: AlexNet(s[0], k, batchnorm=True),
    "vgg11": lambda s, k: VGG11(s[0], k),
    "vgg11bn": lambda s, k: VGG11(s[0], k, norm="batchnorm"),
    "resnet18": lambda s, k: ResNet18(s[0], k),
    "resnet18bn": lambda s, k: ResNet18(s[0], k, norm="batchnorm"),
    "resnet18ap": lambda s, k: ResNet18(s[0], k, avgpool=True),
    "resnet18bnap": lambda s, k: ResNet18(s[0], k, norm="batchnorm", avgpool=True),
    "resnetap10": lambda s, k: ResNetAP10(s[0], k),
    "resnetap10cifar": lambda s, k: ResNetAP10(s[0], k, widths=(32, 64, 128, 256)),
}
NETS = tuple(BUILDERS)

# the reference's names (utils.get_network's, IDC's model tags) of each id
REFERENCE_NAMES = {
    "mlp": "MLP", "convnet": "ConvNet", "convnetbn": "ConvNetBN", "lenet": "LeNet", "alexnet": "AlexNet",
    "alexnetbn": "AlexNetBN", "vgg11": "VGG11", "vgg11bn": "VGG11BN", "resnet18": "ResNet18",
    "resnet18bn": "ResNet18BN", "resnet18ap": "ResNet18_AP", "resnet18bnap": "ResNet18BN_AP",
    "resnetap10": "ResNetAP-10", "resnetap10cifar": "ResNetAP-10 (CIFAR)",
}

# dc_eval ids that are candidates of another space, as space-qualified ids
SAME_AS = {
    "convnet": "dc_convnet:d3_w128_relu_instancenorm_avgpool",
    "convnetbn": "dc_convnet:d3_w128_relu_batchnorm_avgpool",
}


@functools.lru_cache(maxsize=256)
def _flops(net: str, shape: tuple[int, ...]) -> float:
    if net in SAME_AS:
        from proxynas.spaces import resolve_candidate

        other = resolve_candidate(SAME_AS[net], "dc_eval")
        return float(DCConvNetSpace().cost(other, shape))
    with torch.device("meta"):
        model = BUILDERS[net](shape, 10).eval()
        x = torch.empty(2, *shape)  # two images: instance norm refuses one value per channel
    with FlopCounterMode(display=False) as counter:
        model(x)
    return float(counter.get_total_flops()) / 2


@register_space
class DCEvalSpace(SearchSpace):
    name = "dc_eval"
    dimensions: ClassVar[Mapping[str, Sequence[Choice]]] = {"net": NETS}

    def format_id(self, config: Config) -> str:
        return str(config["net"])

    def parse_config(self, candidate_id: str) -> dict[str, Choice]:
        return {"net": candidate_id}

    def build(self, candidate: Candidate, input_shape: Sequence[int], num_classes: int) -> nn.Module:
        return BUILDERS[str(candidate["net"])](input_shape, num_classes)

    def embed(self, model: nn.Module, images: Tensor) -> Tensor:
        return model.embed(images)

    def default(self) -> Candidate:
        return self.parse("convnet")

    def cost(self, candidate: Candidate, input_shape: Sequence[int]) -> float:
        """Forward FLOPs on one image, as torch's FLOP counter counts them (on the meta device: nothing is
        computed); the ConvNets count as ``dc_convnet`` counts them."""
        return _flops(candidate.id, tuple(input_shape))

    def same_as(self, candidate: Candidate) -> str | None:
        """The space-qualified id of the same network in another space, if there is one."""
        return SAME_AS.get(candidate.id)
