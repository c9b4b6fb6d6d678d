"""Which stack trains when: costliest first, and each outcome handed over as soon as its stack ends."""

from __future__ import annotations

import threading

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from proxynas.engine import Job, Protocol, plan_stacks, run_jobs
from proxynas.engine.concurrent import side_by_side
from proxynas.spaces import PlainStacks
from search_spaces import get_space

SPACE = get_space("dc_convnet")


def conv_flops(space, candidate, shape) -> float:
    """Forward convolution FLOPs of one image, by torch's counter (built on the meta device)."""
    with torch.device("meta"):
        model = space.build(candidate, shape, 10).eval()
        x = torch.empty(1, *shape)
    with FlopCounterMode(display=False) as counter:
        model(x)
    return float(sum(n for op, n in counter.get_flop_counts()["Global"].items() if "convolution" in str(op)))


@pytest.mark.parametrize("name", ["dc_convnet", "nb201"])
def test_a_space_cost_is_its_convolutions_flops(name):
    space = get_space(name)
    for shape in ((1, 8, 8), (3, 32, 32), (1, 28, 28)):
        for candidate in [*space.sample(10, seed=5), space.default()]:
            assert space.cost(candidate, shape) == conv_flops(space, candidate, shape), (candidate.id, shape)


def test_costliest_stacks_come_first_and_every_job_stays_planned():
    ids = ["d1_w32_relu_none_avgpool", "d3_w256_relu_none_none", "d2_w64_relu_none_maxpool",
           "d3_w128_relu_none_none", "d1_w32_sigmoid_none_avgpool"]
    jobs = [Job(SPACE.parse(i), 0) for i in ids]
    shape = (3, 32, 32)
    planned = plan_stacks(jobs, SPACE, 1, shape)
    costs = [SPACE.cost(stack[0].candidate, shape) for stack in planned]
    assert costs == sorted(costs, reverse=True)
    assert [s[0].candidate.id for s in planned][:2] == ["d3_w256_relu_none_none", "d3_w128_relu_none_none"]
    assert [s[0].candidate.id for s in planned][-2:] == ids[0::4]  # equal costs keep the plan's order
    by_group = [jobs[0], jobs[4], jobs[1], jobs[2], jobs[3]]  # jobs 0 and 4 share a stack key
    assert plan_stacks(jobs, SPACE, 1) == [[j] for j in by_group]  # no shape: the plan's order, by group
    assert sorted(j.candidate.id for s in planned for j in s) == sorted(ids)


class NoCost:
    """A space that cannot tell costs: its stacks keep the plan's order."""

    name = SPACE.name

    def __init__(self) -> None:
        self.plain = PlainStacks(SPACE, one_at_a_time=True)

    def stack_key(self, candidate):
        return candidate.id

    def build_stack(self, *args):
        return self.plain.build_stack(*args)


def test_a_space_without_costs_keeps_the_plan_order():
    jobs = [Job(SPACE.parse(i), 0) for i in ("d1_w32_relu_none_avgpool", "d3_w256_relu_none_none")]
    assert plan_stacks(jobs, NoCost(), 1, (3, 32, 32)) == [[j] for j in jobs]
    assert plan_stacks(jobs, PlainStacks(SPACE, one_at_a_time=True), 1, (3, 32, 32)) == [[j] for j in jobs[::-1]]


def test_a_finished_item_is_handed_over_while_an_earlier_one_still_runs():
    """The first item waits until the caller has received the second: in item order this would hang
    (then time out and say "late")."""
    received = threading.Event()

    def make_work():
        def work(item: str) -> list[str]:
            if item == "slow":
                return ["slow" if received.wait(timeout=20) else "late"]
            return [item]
        return work

    results = []
    for result in side_by_side(make_work, ["slow", "fast"], 2, torch.device("cpu")):
        results.append(result)
        received.set()
    assert results == ["fast", "slow"]


def test_longest_first_with_two_workers_changes_no_outcome(digits):
    jobs = [Job(SPACE.parse(i), s) for i, s in [("d1_w32_relu_none_avgpool", 0), ("d2_w64_relu_batchnorm_none", 1),
                                                ("d1_w32_relu_none_avgpool", 2), ("d2_w32_sigmoid_none_maxpool", 0)]]
    proxy = digits.train.subset(torch.arange(64))
    protocol = Protocol(epochs=2, batch_size=32)
    def key(o):
        return o.job.candidate.id, o.job.seed

    serial = {key(o): o for o in run_jobs(jobs, SPACE, proxy, digits.val, digits.test, protocol, workers=1)}
    both = list(run_jobs(jobs, SPACE, proxy, digits.val, digits.test, protocol, workers=2))
    assert sorted(map(key, both)) == sorted(serial) and len(both) == len(jobs)
    for o in both:
        s = serial[key(o)]
        assert (o.status, o.val_acc, o.test_acc, o.train_loss) == (s.status, s.val_acc, s.test_acc, s.train_loss)
