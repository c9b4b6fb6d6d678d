"""The engine's invariant: an outcome depends on (candidate, training set, protocol, seed) alone.

Alone, in a stack of 4, split in halves by an out-of-memory error at a step mid-training, or two
stacks side by side in worker threads: the same losses and accuracies, with and without DSA
augmentation. With one model per module (``ListStack``) the CPU gives bit-identical results; grouped
convolutions add up in another order, so there the results agree to float rounding.
"""

from __future__ import annotations

import gc
import logging
import weakref

import pytest
import torch
from torch import nn

from proxynas.augment import make_augment
from proxynas.datasets import dataset_info
from proxynas.engine import Accel, Job, Protocol, accuracy, run_jobs
from proxynas.engine.executors import LocalExecutor, SerialExecutor
from proxynas.spaces import PlainStacks, SearchSpace
from search_spaces import get_space

SPACE = get_space("dc_convnet")
PLAIN = PlainStacks(SPACE)  # one module per model, candidates of one shape in one stack
IDS = ["d1_w32_relu_instancenorm_avgpool", "d1_w32_sigmoid_batchnorm_avgpool",
       "d1_w32_leakyrelu_none_avgpool", "d1_w32_relu_groupnorm_avgpool"]


class FailsAtStep(nn.Module):
    """A stack that runs out of memory on its ``step``-th forward pass in training (a real device would
    at its first, or after fragmentation at any later step)."""

    def __init__(self, stack: nn.Module, step: int) -> None:
        super().__init__()
        self.stack, self.step, self.calls = stack, step, 0

    def forward(self, x):
        if self.training:
            self.calls += 1
            if self.calls == self.step:
                raise torch.OutOfMemoryError("injected: out of memory at a training step")
        return self.stack(x)


class OutOfMemorySpace:
    """Stacks of more than ``limit`` models run out of memory at training step ``step``; every stack
    built is tracked, to check that the one that ran out was freed before its halves were built."""

    def __init__(self, base, limit: int, step: int) -> None:
        self.base, self.limit, self.step = base, limit, step
        self.name = base.name
        self.sizes: list[int] = []
        self.oversized: list[weakref.ref] = []
        self.freed_before_rebuild: list[bool] = []

    def stack_key(self, candidate):
        return self.base.stack_key(candidate)

    def build_stack(self, candidates, seeds, shape, classes):
        gc.collect()  # a reference cycle would survive without it; the check is that nothing else holds it
        self.freed_before_rebuild += [ref() is None for ref in self.oversized]
        self.sizes.append(len(candidates))
        stack = self.base.build_stack(candidates, seeds, shape, classes)
        if len(candidates) > self.limit:
            stack = FailsAtStep(stack, self.step)
            self.oversized.append(weakref.ref(stack))
        return stack


def outcomes(space, data, protocol, augment, **engine):
    jobs = [Job(SPACE.parse(i), seed) for i, seed in zip(IDS, (0, 1, 2, 3), strict=True)]
    train = data.train.subset(torch.arange(100))
    found = {(o.job.candidate.id, o.job.seed): o
             for o in run_jobs(jobs, space, train, data.val, data.test, protocol, augment=augment, **engine)}
    return [(o.status, o.train_loss, o.val_acc, o.test_acc)
            for o in (found[j.candidate.id, j.seed] for j in jobs)]


@pytest.mark.slow
@pytest.mark.parametrize("aug", ["none", "dsa"])
def test_alone_in_a_stack_split_and_side_by_side_are_bitwise_equal(digits, aug):
    protocol = Protocol(epochs=3, batch_size=32, augment=aug)  # 4 steps an epoch, the last of 4 images
    augment = make_augment(aug, dataset_info("digits"))
    alone = outcomes(PLAIN, digits, protocol, augment, max_models=1, workers=1)
    stacked = outcomes(PLAIN, digits, protocol, augment, max_models=4, workers=1)
    splitting = OutOfMemorySpace(PLAIN, limit=2, step=6)  # the second epoch's second step
    split = outcomes(splitting, digits, protocol, augment, max_models=4, workers=1)
    threads = outcomes(PLAIN, digits, protocol, augment, max_models=2, workers=2)
    assert all(status == "done" for status, *_ in alone)
    assert stacked == alone and split == alone and threads == alone
    assert splitting.sizes == [4, 2, 2] and splitting.freed_before_rebuild == [True, True]


@pytest.mark.slow
def test_grouped_stacks_agree_with_single_models_to_float_rounding(digits):
    protocol = Protocol(epochs=3, batch_size=32, augment="dsa")
    augment = make_augment("dsa", dataset_info("digits"))
    alone = outcomes(SPACE, digits, protocol, augment, max_models=1, workers=1)
    grouped = outcomes(SPACE, digits, protocol, augment, max_models=4, workers=1)
    for a, g in zip(alone, grouped, strict=True):
        assert a[0] == g[0] == "done"
        assert g[1] == pytest.approx(a[1], abs=1e-5)
        assert g[2] == pytest.approx(a[2], abs=1 / len(digits.val) + 1e-9)  # one image may flip


class EvalOutOfMemory(nn.Module):
    """Runs out of memory in evaluation whenever a chunk holds more than ``limit`` images per model."""

    def __init__(self, stack: nn.Module, limit: int) -> None:
        super().__init__()
        self.stack, self.limit, self.chunks = stack, limit, []

    def forward(self, x):
        if not self.training:
            self.chunks.append(x.shape[1])
            if x.shape[1] > self.limit:
                raise torch.OutOfMemoryError("injected: out of memory in evaluation")
        return self.stack(x)


def test_out_of_memory_in_evaluation_retries_smaller_chunks_and_never_retrains(digits):
    class Space(PlainStacks):
        def __init__(self) -> None:
            super().__init__(SPACE)
            self.built: list[EvalOutOfMemory] = []

        def build_stack(self, candidates, seeds, shape, classes):
            stack = EvalOutOfMemory(super().build_stack(candidates, seeds, shape, classes), limit=40)
            self.built.append(stack)
            return stack

    protocol = Protocol(epochs=2, batch_size=64)
    jobs = [Job(SPACE.parse(i), 0) for i in IDS[:2]]
    train = digits.train.subset(torch.arange(128))
    plain = list(run_jobs(jobs, PLAIN, train, digits.val, digits.test, protocol, max_models=2))
    space = Space()
    retried = list(run_jobs(jobs, space, train, digits.val, digits.test, protocol, max_models=2))
    assert [(o.val_acc, o.test_acc, o.train_loss) for o in retried] == \
        [(o.val_acc, o.test_acc, o.train_loss) for o in plain]
    assert len(space.built) == 1  # trained once, evaluated after two injected failures
    assert space.built[0].chunks[:2] == [64, 32]  # chunks of the training batch, then halved


def test_evaluation_halves_its_chunk_until_it_fits(digits):
    model = SearchSpace.build_stack(SPACE, [SPACE.default()], [0], digits.shape, 10)
    failing = EvalOutOfMemory(model, limit=40)
    expected = accuracy(model, digits.val, 1, chunk=1000)
    assert torch.equal(accuracy(failing, digits.val, 1, chunk=256), expected)
    assert failing.chunks[:3] == [144, 72, 36] and max(failing.chunks[3:]) <= 36  # 144 images in all
    tiny = EvalOutOfMemory(model, limit=0)
    with pytest.raises(torch.OutOfMemoryError):
        accuracy(tiny, digits.val, 1, chunk=4)


def test_each_worker_thread_keeps_one_stream_for_its_lifetime(digits):
    jobs = [Job(c, 0) for c in SPACE.candidates(depth=1, width=32, pool="avgpool")[:6]]
    executor = LocalExecutor(2)
    seen = []
    list(run_jobs(jobs, SPACE, digits.train.subset(torch.arange(64)), digits.val, digits.test,
                  Protocol(epochs=1, batch_size=64), max_models=1, executor=executor,
                  on_epoch=lambda end: seen.append(end.epoch)))
    assert len(seen) == 6  # six stacks
    assert len(executor.streams.made) == 2  # two threads, one stream (on the CPU: a place for one) each


class CountingBackend:
    """A torch.compile backend that runs the captured graph as is and counts graphs and calls."""

    def __init__(self) -> None:
        self.graphs = 0
        self.calls = 0

    def __call__(self, gm: torch.fx.GraphModule, example_inputs):
        self.graphs += 1

        def run(*args):
            self.calls += 1
            return gm.forward(*args)

        return run


@pytest.mark.slow
def test_compile_compiles_every_stack_of_a_run(digits, caplog):
    """Stacks of three shapes, two model counts and a smaller last batch: all compiled, none eager."""
    ids = ["d1_w32_relu_instancenorm_avgpool", "d1_w32_sigmoid_none_avgpool", "d1_w32_relu_none_avgpool",
           "d2_w32_relu_instancenorm_maxpool", "d1_w64_relu_none_none"]
    jobs = [Job(SPACE.parse(i), 0) for i in ids]
    train = digits.train.subset(torch.arange(80))  # batches of 32, 32 and 16
    protocol = Protocol(epochs=2, batch_size=32)
    backend = CountingBackend()
    with caplog.at_level(logging.WARNING):
        compiled = list(run_jobs(jobs, SPACE, train, digits.val, digits.test, protocol, max_models=2,
                                 accel=Accel(compile="default", compile_backend=backend)))
    eager = list(run_jobs(jobs, SPACE, train, digits.val, digits.test, protocol, max_models=2))
    stacks = 4  # d1_w32_avgpool: 2 + 1 models; d2_w32_maxpool; d1_w64_none
    assert backend.calls == stacks * protocol.epochs * 3  # every training step of every stack ran compiled
    assert backend.graphs >= 4
    assert "fell back" not in caplog.text and "failed" not in caplog.text
    for c, e in zip(compiled, eager, strict=True):
        assert c.job == e.job and c.train_loss == pytest.approx(e.train_loss, abs=1e-5)


def test_a_compile_failure_is_reported_once_and_the_run_goes_on_eager(digits, caplog):
    def broken(gm, example_inputs):
        raise RuntimeError("this backend cannot compile anything")

    jobs = [Job(SPACE.parse(i), 0) for i in IDS[:2]] + [Job(SPACE.parse("d2_w32_relu_none_avgpool"), 0)]
    train = digits.train.subset(torch.arange(64))
    protocol = Protocol(epochs=1, batch_size=32)
    with caplog.at_level(logging.WARNING):
        failed = list(run_jobs(jobs, PLAIN, train, digits.val, digits.test, protocol, max_models=1,
                               executor=SerialExecutor(), accel=Accel(compile="default", compile_backend=broken)))
    eager = list(run_jobs(jobs, PLAIN, train, digits.val, digits.test, protocol, max_models=1))
    assert [(o.val_acc, o.train_loss) for o in failed] == [(o.val_acc, o.train_loss) for o in eager]
    warnings = [r for r in caplog.records if "torch.compile failed" in r.getMessage()]
    assert len(warnings) == 1 and "cannot compile anything" in warnings[0].getMessage()


def test_channels_last_and_fused_sgd_change_nothing_but_rounding(digits):
    jobs = [Job(SPACE.parse(i), 0) for i in IDS]
    train = digits.train.subset(torch.arange(96))
    protocol = Protocol(epochs=2, batch_size=32)
    runs = {name: list(run_jobs(jobs, SPACE, train, digits.val, digits.test, protocol, max_models=4, accel=accel))
            for name, accel in [("plain", Accel()), ("channels_last", Accel(channels_last=True)),
                                ("fused", Accel(fused_sgd=True))]}
    for name in ("channels_last", "fused"):
        for a, b in zip(runs["plain"], runs[name], strict=True):
            assert b.train_loss == pytest.approx(a.train_loss, abs=1e-5), name
