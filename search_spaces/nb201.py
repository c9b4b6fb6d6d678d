"""NAS-Bench-201 (Dong & Yang, ICLR 2020): 5 operations on the 6 edges of one cell, 5^6 = 15,625 candidates.

Candidate ids are NB201's own architecture strings, node by node, each input as ``op~source``:
``|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|none~0|nor_conv_3x3~1|avg_pool_3x3~2|``, so ids
match the benchmark files' ``meta_archs`` and published accuracies import by id. Dimensions are the
edges ``e{i}_{j}`` (into node i from node j). The network is :mod:`search_spaces.nb201_net`.

Many cells compute the same function: :meth:`NB201Space.canonical` is the reference's isomorphism key
(``Structure.to_unique_str(consider_zero=True)`` in D-X-Y/AutoDL-Projects, which NATS-Bench's
``get_unique_str`` uses): an edge is zero when its operation is ``none`` or its source node is exactly
zero, a skip passes its source on, any other operation wraps it; a node is the sorted sum of its inputs.
``candidates(unique=True)`` keeps one of each of the 6,466 classes. (As in the reference, a node is
"exactly zero" only when its key is a single zero term: node 1 from ``none``; a node summing several
zero inputs is not treated as zero downstream. The 6,466 depends on that.)
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import ClassVar

from torch import Tensor, nn

from proxynas.engine.stack import seeded
from proxynas.spaces import Candidate, Choice, Config, SearchSpace, register_space
from search_spaces.nb201_net import CELLS_PER_STAGE, CHANNELS, EDGES, NODES, OPS, NB201Network, edge_name

ZERO = "#"  # the reference's mark of a zero term
ALL_CONV3X3 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"


@register_space
class NB201Space(SearchSpace):
    name = "nb201"
    dimensions: ClassVar[Mapping[str, Sequence[Choice]]] = {edge_name(i, j): OPS for i, j in EDGES}

    def format_id(self, config: Config) -> str:
        nodes = ("|".join(f"{config[edge_name(i, j)]}~{j}" for j in range(i)) for i in range(1, NODES))
        return "+".join(f"|{node}|" for node in nodes)

    def parse_config(self, candidate_id: str) -> dict[str, Choice]:
        nodes = candidate_id.split("+")
        if len(nodes) != NODES - 1:
            raise ValueError(candidate_id)
        config: dict[str, Choice] = {}
        for i, node in enumerate(nodes, 1):
            if not (node.startswith("|") and node.endswith("|")):
                raise ValueError(candidate_id)
            inputs = node[1:-1].split("|")
            if len(inputs) != i:
                raise ValueError(candidate_id)
            for op_source in inputs:
                op, source = op_source.split("~")
                config[edge_name(i, int(source))] = op
        return config

    def build(self, candidate: Candidate, input_shape: Sequence[int], num_classes: int) -> nn.Module:
        ops = {(i, j): str(candidate[edge_name(i, j)]) for i, j in EDGES}
        return NB201Network(ops, input_shape, num_classes)

    def cost(self, candidate: Candidate, input_shape: Sequence[int]) -> float:
        """FLOPs of the convolutions' forward pass on one image: the stem, the two reduction blocks and
        every cell's 1x1 and 3x3 edges (what torch's FLOP counter counts for them)."""
        in_channels, height, width = input_shape
        taps = sum({"nor_conv_3x3": 9, "nor_conv_1x1": 1}.get(str(candidate[edge_name(i, j)]), 0) for i, j in EDGES)
        c, area = CHANNELS, height * width
        flops = 2 * 9 * in_channels * c * area  # the stem
        for stage in range(3):
            if stage:  # a reduction: 3x3 with stride 2, 3x3, and the shortcut's 1x1, at a quarter the area
                area //= 4
                flops += 2 * (9 * c * 2 * c + 9 * 2 * c * 2 * c + c * 2 * c) * area
                c *= 2
            flops += CELLS_PER_STAGE * 2 * taps * c * c * area
        return float(flops)

    def stack_key(self, candidate: Candidate) -> Hashable:
        """Every cell shares the skeleton and the tensor shapes: any cells train as one stack
        (:class:`~search_spaces.nb201_stack.GroupedNB201Stack`)."""
        return self.name

    def build_stack(self, candidates: Sequence[Candidate], seeds: Sequence[int],
                    input_shape: Sequence[int], num_classes: int) -> nn.Module:
        """A :class:`~search_spaces.nb201_stack.GroupedNB201Stack` holding exactly the networks ``seeded``
        builds one by one (what the default ``ListStack`` holds, and holds for one network)."""
        from search_spaces.nb201_stack import GroupedNB201Stack

        if len(candidates) == 1:
            return super().build_stack(candidates, seeds, input_shape, num_classes)
        models = [seeded(lambda c=c: self.build(c, input_shape, num_classes), seed)
                  for c, seed in zip(candidates, seeds, strict=True)]
        ops = [{(i, j): str(c[edge_name(i, j)]) for i, j in EDGES} for c in candidates]
        return GroupedNB201Stack(models, ops)

    def default(self) -> Candidate:
        """Every edge a 3x3 convolution (the reference's ``all_c3x3`` cell)."""
        return self.parse(ALL_CONV3X3)

    def embed(self, model: nn.Module, images: Tensor) -> Tensor:
        return model.embed(images)

    def canonical(self, candidate: Candidate) -> Hashable:
        nodes = ["0"]
        for i in range(1, NODES):
            terms = []
            for j in range(i):
                op, source = candidate[edge_name(i, j)], nodes[j]
                if op == "none" or source == ZERO:
                    terms.append(ZERO)
                elif op == "skip_connect":
                    terms.append(source)
                else:
                    terms.append(f"({source})@{op}")
            nodes.append("+".join(sorted(terms)))
        return nodes[-1]
