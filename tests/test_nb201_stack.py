"""NB201's grouped stack (``search_spaces.nb201_stack``): any cells in one module, equal to one by one.

Tolerances are measured in each test: the gap between the single networks and the same networks with
every weight moved one float32 rounding step (``nudged``) is how much this computation's rounding can
move; the grouped stack, which only adds in another order, must stay within four times that in a
forward pass (at least 1e-6) and sixteen times in training (its rounding enters at every operation of
every step, the nudge once). So the bound follows the CPU's kernels (AVX2 or AVX-512) instead of a number
fixed on one of them.
"""

from __future__ import annotations

import pytest
import torch

from proxynas.engine import Job, ListStack, Protocol, fit, plan_stacks
from proxynas.spaces import SearchSpace
from search_spaces import get_space
from search_spaces.nb201 import ALL_CONV3X3
from search_spaces.nb201_stack import GroupedNB201Stack

SPACE = get_space("nb201")
EDGE_CASES = [
    ALL_CONV3X3,
    "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|",  # a zero network: every node zero
    "|skip_connect~0|+|avg_pool_3x3~0|nor_conv_1x1~1|+|none~0|skip_connect~1|nor_conv_3x3~2|",
    "|avg_pool_3x3~0|+|nor_conv_1x1~0|none~1|+|skip_connect~0|avg_pool_3x3~1|none~2|",
]


def nudged(model: torch.nn.Module) -> torch.nn.Module:
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(1 + 2.0**-23)
    return model


def build(ids, seeds, shape=(1, 8, 8)):
    """(the grouped stack, a ListStack of the same networks, the same with every weight nudged)."""
    candidates = [SPACE.parse(i) for i in ids]
    stack = SPACE.build_stack(candidates, seeds, shape, 10)
    singles = SearchSpace.build_stack(SPACE, candidates, seeds, shape, 10)
    moved = nudged(SearchSpace.build_stack(SPACE, candidates, seeds, shape, 10))
    return stack, singles, moved


def alone(model: torch.nn.Module) -> ListStack:
    return ListStack([model])


def test_any_cells_share_one_stack_kind_and_one_module():
    jobs = [Job(c, 0) for c in SPACE.sample(9, seed=2)]
    assert plan_stacks(jobs, SPACE, 4) == [jobs[:4], jobs[4:8], jobs[8:]]
    stack = SPACE.build_stack([j.candidate for j in jobs[:4]], [0, 1, 2, 3], (1, 8, 8), 10)
    assert isinstance(stack, GroupedNB201Stack) and len(stack) == 4
    single = SPACE.build_stack([jobs[0].candidate], [0], (1, 8, 8), 10)
    assert not isinstance(single, GroupedNB201Stack)  # one network: the plain stack
    singles = SearchSpace.build_stack(SPACE, [j.candidate for j in jobs[:4]], [0, 1, 2, 3], (1, 8, 8), 10)
    assert sum(p.numel() for p in stack.parameters()) == sum(p.numel() for p in singles.parameters())


@pytest.mark.slow
def test_forward_equals_the_single_networks_in_training_and_evaluation():
    ids = [*EDGE_CASES, *(c.id for c in SPACE.sample(2, seed=11)), EDGE_CASES[2]]  # one cell twice
    seeds = list(range(len(ids)))
    stack, singles, moved = build(ids, seeds, (3, 8, 8))
    x = torch.randn(len(ids), 4, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    for mode in ("train", "eval"):
        for m in (stack, singles, moved):
            m.train(mode == "train")
        with torch.no_grad():
            reference = singles(x)
            tolerance = max(1e-6, 4 * float((moved(x) - reference).abs().max()))
            torch.testing.assert_close(stack(x), reference, atol=tolerance, rtol=0, msg=mode)


@pytest.mark.slow
def test_training_equals_one_by_one_to_rounding(digits):
    ids = [*EDGE_CASES[1:3], SPACE.sample(1, seed=5)[0].id]
    seeds = [4, 0, 1]
    data = digits.train.subset(torch.arange(64))
    protocol = Protocol(epochs=1, batch_size=32)
    stack, singles, moved = build(ids, seeds)
    mine = fit(stack, data, protocol, seeds).final_loss
    pairs = list(zip(seeds, singles.models, moved.models, strict=True))
    theirs = torch.cat([fit(alone(m), data, protocol, [s]).final_loss for s, m, _ in pairs])
    nudge = torch.cat([fit(alone(m), data, protocol, [s]).final_loss for s, _, m in pairs])
    tolerance = max(1e-5, 16 * float((nudge - theirs).abs().max()))
    torch.testing.assert_close(mine, theirs, atol=tolerance, rtol=0)
    assert torch.isfinite(mine).all()
