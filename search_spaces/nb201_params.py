"""``params`` of NB201 cells by formula (the batched form ``proxynas score params --space nb201`` uses): the
trainable parameters of :class:`~search_spaces.nb201_net.NB201Network`, from the cell's operations alone.

Per stage of C channels, each of the N cells has 9C^2 + 2C per 3x3 edge and C^2 + 2C per 1x1 edge
(convolution and batch norm); the rest is fixed: the stem, two reduction blocks, the last batch norm and the
classifier. ``tests/test_zerocost_batched.py`` checks it against the built networks.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from proxynas.spaces import Candidate, SearchSpace
from proxynas.zerocost.measure import Probe
from proxynas.zerocost.score import batched_form
from search_spaces.nb201_net import CELLS_PER_STAGE, CHANNELS, EDGES, edge_name

PER_EDGE = {"nor_conv_3x3": lambda c: 9 * c * c + 2 * c, "nor_conv_1x1": lambda c: c * c + 2 * c}


def nb201_params(candidate: Candidate, in_channels: int, num_classes: int) -> int:
    ops = [str(candidate[edge_name(i, j)]) for i, j in EDGES]
    c = CHANNELS
    total = 9 * in_channels * c + 2 * c  # the stem
    for stage in range(3):
        if stage:  # ReLU-conv3x3(stride 2)-BN, ReLU-conv3x3-BN, avg pool + 1x1 conv
            total += 9 * c * 2 * c + 4 * c + 9 * 4 * c * c + 4 * c + 2 * c * c
            c *= 2
        total += CELLS_PER_STAGE * sum(PER_EDGE[op](c) for op in ops if op in PER_EDGE)
    return total + 2 * c + c * num_classes + num_classes  # last batch norm, classifier


@batched_form("params", "nb201")
def params_nb201(space: SearchSpace, candidates: Sequence[Candidate], probe: Probe,
                 seed: int) -> list[tuple[float, float]]:
    """counted by formula (no network is built)"""
    out = []
    for candidate in candidates:
        start = time.perf_counter()
        value = float(nb201_params(candidate, probe.input_shape[0], probe.num_classes))
        out.append((value, time.perf_counter() - start))
    return out
