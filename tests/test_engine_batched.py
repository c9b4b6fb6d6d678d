"""The batched engine on the CPU: grouped dc_convnet stacks train exactly what one-at-a-time training does."""

from __future__ import annotations

import math
from collections.abc import Sequence

import pytest
import torch

from proxynas.engine import Accel, Job, Protocol, default_stack_size, fit, plan_stacks, run_jobs
from proxynas.errors import ProxynasError
from proxynas.spaces import PlainStacks, SearchSpace
from search_spaces import get_space
from search_spaces.dc_convnet_stack import GroupedConvNetStack

SPACE = get_space("dc_convnet")
ONE_BY_ONE = PlainStacks(SPACE, one_at_a_time=True)  # the reference the grouped stacks must match
# one shape, every norm and activation, and one candidate twice (two seeds)
MIXED = ["d2_w32_sigmoid_batchnorm_maxpool", "d2_w32_relu_layernorm_maxpool", "d2_w32_leakyrelu_none_maxpool",
         "d2_w32_relu_instancenorm_maxpool", "d2_w32_sigmoid_groupnorm_maxpool", "d2_w32_relu_batchnorm_maxpool"]


def stacks(ids: Sequence[str], seeds: Sequence[int], shape, classes: int = 10):
    """(ListStack, grouped stack) of the same seeded models."""
    candidates = [SPACE.parse(i) for i in ids]
    reference = SearchSpace.build_stack(SPACE, candidates, seeds, shape, classes)
    grouped = SPACE.build_stack(candidates, seeds, shape, classes)
    assert isinstance(grouped, GroupedConvNetStack)
    return reference, grouped


def assert_same_models(reference, grouped, atol: float, rtol: float = 1e-4) -> None:
    for g, model in enumerate(reference.models):
        mine = grouped.single(g).state_dict()
        for name, tensor in model.state_dict().items():
            if name.endswith("num_batches_tracked"):
                continue
            torch.testing.assert_close(mine[name], tensor, atol=atol, rtol=rtol, msg=f"model {g}: {name}")


@pytest.mark.parametrize("shape", [(1, 8, 8), (1, 28, 28), (3, 32, 32)])
def test_grouped_forward_equals_list_stack_in_train_and_eval(shape):
    ids, seeds = [*MIXED, MIXED[0]], [3, 1, 4, 1, 5, 9, 2]
    reference, grouped = stacks(ids, seeds, shape)
    assert_same_models(reference, grouped, atol=0, rtol=0)  # the same initial weights, copied exactly
    x = torch.randn(len(ids), 6, *shape)
    with torch.no_grad():
        torch.testing.assert_close(grouped(x), reference(x), atol=1e-5, rtol=1e-4)
        assert_same_models(reference, grouped, atol=1e-6)  # batch-norm running statistics moved alike
        reference.eval()
        grouped.eval()
        torch.testing.assert_close(grouped(x), reference(x), atol=1e-5, rtol=1e-4)


def test_every_shape_of_the_space_groups_on_digits():
    for depth, width, pool in [(1, 64, "none"), (3, 32, "avgpool"), (4, 32, "maxpool"), (4, 32, "none")]:
        candidates = SPACE.candidates(depth=depth, width=width, pool=pool)
        ids = [c.id for c in candidates[::4]]
        reference, grouped = stacks(ids, range(len(ids)), (1, 8, 8))
        x = torch.randn(len(ids), 3, 1, 8, 8)
        torch.testing.assert_close(grouped(x), reference(x), atol=1e-5, rtol=1e-4)


def test_training_keeps_grouped_and_single_models_equal(digits):
    data = digits.train.subset(torch.arange(96))
    seeds = [0, 1, 2, 3, 4, 5]
    reference, grouped = stacks(MIXED, seeds, digits.shape)
    protocol = Protocol(epochs=3, batch_size=32)
    mine, theirs = fit(grouped, data, protocol, seeds), fit(reference, data, protocol, seeds)
    torch.testing.assert_close(mine.final_loss, theirs.final_loss, atol=1e-4, rtol=1e-4)
    assert_same_models(reference, grouped, atol=1e-4)


def test_run_jobs_grouped_gives_the_one_at_a_time_accuracies(digits):
    jobs = [Job(SPACE.parse(i), s) for i, s in [(MIXED[0], 0), (MIXED[1], 0), (MIXED[0], 1),
                                                ("d1_w32_relu_none_avgpool", 0), (MIXED[3], 0)]]
    proxy = digits.train.subset(torch.arange(200))
    protocol = Protocol(epochs=8, batch_size=64)
    alone = list(run_jobs(jobs, ONE_BY_ONE, proxy, digits.val, digits.test, protocol, max_models=1))
    together = list(run_jobs(jobs, SPACE, proxy, digits.val, digits.test, protocol, max_models=16))
    for outcomes, space, size in ((alone, ONE_BY_ONE, 1), (together, SPACE, 16)):  # every planned job once
        planned = [j for stack in plan_stacks(jobs, space, size, proxy.shape) for j in stack]
        assert sorted((o.job for o in outcomes), key=jobs.index) == sorted(planned, key=jobs.index) == jobs
        outcomes.sort(key=lambda o: jobs.index(o.job))
    for a, b in zip(alone, together, strict=True):
        assert a.status == b.status == "done"
        assert abs(a.val_acc - b.val_acc) <= 2 / len(digits.val), a.job.candidate.id
        assert abs(a.train_loss - b.train_loss) < 1e-3
    assert max(o.val_acc for o in together) > 0.5  # they learned something


class OneDiverges:
    """dc_convnet whose stacks get an infinite logit bias in the first job's model: it must fail alone."""

    name = SPACE.name

    def stack_key(self, candidate):
        return SPACE.stack_key(candidate)

    def build_stack(self, candidates, seeds, shape, classes):
        stack = SPACE.build_stack(candidates, seeds, shape, classes)
        with torch.no_grad():
            stack.classifier_bias[stack.inverse[0], 0] = float("inf")
        return stack


def test_a_diverging_model_fails_alone_in_its_grouped_stack(digits):
    jobs = [Job(SPACE.parse(i), 0) for i in MIXED[:4]]
    outcomes = list(run_jobs(jobs, OneDiverges(), digits.train.subset(torch.arange(128)), digits.val,
                             digits.test, Protocol(epochs=3, batch_size=64), max_models=4))
    assert [o.status for o in outcomes] == ["failed", "done", "done", "done"]
    assert "non-finite" in outcomes[0].reason and "epoch 1" in outcomes[0].reason
    assert outcomes[0].val_acc is None
    for o in outcomes[1:]:
        assert 0.0 <= o.val_acc <= 1.0 and math.isfinite(o.train_loss)


def test_plan_covers_every_job_once_in_stacks_of_one_shape():
    candidates = SPACE.sample(60, seed=3)
    jobs = [Job(c, s) for c in candidates for s in (0, 1)]
    for max_models in (1, 7, 64):
        planned = plan_stacks(jobs, SPACE, max_models)
        flat = [job for stack in planned for job in stack]
        assert sorted(flat, key=jobs.index) == jobs and len(flat) == len(jobs)
        for stack in planned:
            assert 1 <= len(stack) <= max_models
            assert len({SPACE.stack_key(j.candidate) for j in stack}) == 1
    assert len(plan_stacks(jobs, SPACE, 64)) == len({SPACE.stack_key(c) for c in candidates})


class OutOfMemoryAbove:
    """dc_convnet on a pretend device that holds at most ``limit`` models per stack."""

    name = SPACE.name

    def __init__(self, limit: int) -> None:
        self.limit, self.sizes = limit, []

    def stack_key(self, candidate):
        return SPACE.stack_key(candidate)

    def build_stack(self, candidates, seeds, shape, classes):
        self.sizes.append(len(candidates))
        if len(candidates) > self.limit:
            raise torch.cuda.OutOfMemoryError("pretend: out of memory")
        return SPACE.build_stack(candidates, seeds, shape, classes)


def test_workers_streams_and_memory_splits_change_no_result(digits):
    """Two worker threads (CUDA streams on a GPU) and stacks split on out-of-memory: same outcomes."""
    candidates = SPACE.candidates(depth=1, width=32, pool="avgpool")[:5] + SPACE.candidates(depth=1, width=64)[:2]
    jobs = [Job(c, 0) for c in candidates]
    proxy = digits.train.subset(torch.arange(100))
    protocol = Protocol(epochs=3)
    plain = list(run_jobs(jobs, SPACE, proxy, digits.val, digits.test, protocol, max_models=8))
    seen, threads = [], torch.get_num_threads()
    small = OutOfMemoryAbove(limit=2)
    side_by_side = list(run_jobs(jobs, small, proxy, digits.val, digits.test, protocol, max_models=8, workers=2,
                                 on_epoch=lambda end: seen.append(len(end.jobs))))
    side_by_side.sort(key=lambda o: jobs.index(o.job))  # outcomes come as their stacks finish
    plain.sort(key=lambda o: jobs.index(o.job))
    assert [o.job for o in side_by_side] == [o.job for o in plain] == jobs
    assert [o.val_acc for o in side_by_side] == pytest.approx([o.val_acc for o in plain], abs=1e-6)
    assert max(small.sizes) == 5 and sorted(set(small.sizes)) == [1, 2, 3, 5]  # 5 -> 2 + 3 -> 2 + 1 + 2
    assert sum(seen) == len(jobs) * protocol.epochs
    assert torch.get_num_threads() == threads  # the workers' thread setting is undone


def test_cuda_accelerations_run_on_the_cpu_twin(digits):
    """bf16 autocast, channels_last and fused SGD (the CUDA defaults) through the same code on the CPU."""
    jobs = [Job(SPACE.parse(i), 0) for i in MIXED[:3]]
    proxy = digits.train.subset(torch.arange(256))
    protocol = Protocol(epochs=6, batch_size=64)
    fp32 = list(run_jobs(jobs, SPACE, proxy, digits.val, digits.test, protocol, max_models=3))
    fast = Accel(bf16=True, channels_last=True, fused_sgd=True)
    bf16 = list(run_jobs(jobs, SPACE, proxy, digits.val, digits.test, protocol, max_models=3, accel=fast))
    for a, b in zip(fp32, bf16, strict=True):
        assert b.status == "done" and abs(a.val_acc - b.val_acc) < 0.1, (a, b)
    assert Accel.for_device(torch.device("cuda")).bf16


def test_the_cpu_layout_is_measured_unless_the_environment_names_one(monkeypatch):
    cpu = torch.device("cpu")
    monkeypatch.delenv("PROXYNAS_CPU_LAYOUT", raising=False)
    assert Accel.for_device(cpu) == Accel(choose_layout=True)
    for value, expected in [("measure", Accel(choose_layout=True)), ("contiguous", Accel()),
                            ("Channels_Last", Accel(channels_last=True))]:
        monkeypatch.setenv("PROXYNAS_CPU_LAYOUT", value)
        assert Accel.for_device(cpu) == expected, value
    monkeypatch.setenv("PROXYNAS_CPU_LAYOUT", "nhwc")
    with pytest.raises(ProxynasError, match="PROXYNAS_CPU_LAYOUT='nhwc' is not a CPU layout"):
        Accel.for_device(cpu)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_the_cuda_engine_agrees_with_the_cpu(digits):
    """On a GPU, the defaults: bf16 autocast, channels_last, fused SGD, two stacks on their own streams."""
    cuda = torch.device("cuda")
    jobs = [Job(SPACE.parse(i), 0) for i in [*MIXED, "d1_w32_relu_none_avgpool", "d1_w64_relu_none_avgpool"]]
    proxy = digits.train.subset(torch.arange(256))
    protocol = Protocol(epochs=10, batch_size=64)
    cpu = {o.job.candidate.id: o for o in run_jobs(jobs, SPACE, proxy, digits.val, digits.test, protocol,
                                                    max_models=16, workers=1)}
    gpu = list(run_jobs(jobs, SPACE, proxy.to(cuda), digits.val.to(cuda), digits.test.to(cuda), protocol,
                        max_models=default_stack_size(cuda)))
    assert sorted(o.job.candidate.id for o in gpu) == sorted(cpu)
    for o in gpu:
        assert o.status == "done" and abs(o.val_acc - cpu[o.job.candidate.id].val_acc) < 0.1, o
