"""The ConvNet space of the DC paper's NAS study: depth x width x activation x norm x pooling = 720.

The network, the reference ``ConvNet`` (VICO-UoE/DatasetCondensation), is in
:mod:`search_spaces.dc_convnet_net`; its grouped stacks in :mod:`search_spaces.dc_convnet_stack`.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import ClassVar

from torch import Tensor, nn

from proxynas.engine.stack import seeded
from proxynas.spaces import Candidate, Choice, Config, SearchSpace, register_space
from search_spaces.dc_convnet_net import ACTIVATIONS, DEPTHS, NORMS, POOLINGS, WIDTHS, ConvNet, feature_shapes
from search_spaces.dc_convnet_stack import GroupedConvNetStack

DEFAULT_ID = "d3_w128_relu_instancenorm_avgpool"


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
        if len(candidates) == 1:
            return super().build_stack(candidates, seeds, input_shape, num_classes)
        models = [seeded(lambda c=c: self.build(c, input_shape, num_classes), seed)
                  for c, seed in zip(candidates, seeds, strict=True)]
        return GroupedConvNetStack(models, [c.config for c in candidates], input_shape, num_classes)

    def default(self) -> Candidate:
        return self.parse(DEFAULT_ID)
