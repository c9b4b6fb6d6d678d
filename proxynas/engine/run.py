"""Train (candidate, seed) jobs in stacks and yield one outcome per job as its stack finishes."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any
from typing import Protocol as TypingProtocol

import torch
from torch import nn

from proxynas.datasets.base import TensorSet
from proxynas.engine.accel import Accel
from proxynas.engine.batching import default_workers
from proxynas.engine.concurrent import serialized, side_by_side
from proxynas.engine.fit import Augment, EpochHook, accuracy, fit
from proxynas.engine.protocol import Protocol


class Stackable(TypingProtocol):
    """What the engine needs of a search space (``search_spaces.SearchSpace`` provides it)."""

    def stack_key(self, candidate: Any) -> Hashable: ...

    def build_stack(self, candidates: Sequence[Any], seeds: Sequence[int],
                    input_shape: Sequence[int], num_classes: int) -> nn.Module: ...


@dataclass(frozen=True)
class Job:
    candidate: Any  # a search_spaces.Candidate (has .id)
    seed: int


@dataclass(frozen=True)
class Outcome:
    job: Job
    status: str  # "done" or "failed"
    val_acc: float | None
    test_acc: float | None
    train_loss: float | None
    seconds: float  # this job's share of its stack's wall time
    epochs: int
    reason: str | None = None


def plan_stacks(jobs: Iterable[Job], space: Stackable, max_models: int) -> list[list[Job]]:
    """Group jobs whose candidates can share one stack, at most ``max_models`` per stack, order kept."""
    groups: dict[Hashable, list[Job]] = {}
    for job in jobs:
        groups.setdefault(space.stack_key(job.candidate), []).append(job)
    return [group[i:i + max_models] for group in groups.values() for i in range(0, len(group), max_models)]


def run_jobs(
    jobs: Sequence[Job],
    space: Stackable,
    train: TensorSet,
    val: TensorSet,
    test: TensorSet,
    protocol: Protocol,
    *,
    max_models: int = 1,
    augment: Augment | None = None,
    on_epoch: Callable[[list[Job], int, torch.Tensor], None] | None = None,
    accel: Accel | None = None,
    workers: int | None = None,
) -> Iterator[Outcome]:
    """Train every job on ``train`` (tensors already on the device) and score it on ``val`` and ``test``.

    Stacks hold at most ``max_models`` jobs; a stack that runs out of GPU memory is split in halves and
    trained again (same seeds, same results). ``workers`` (default: :func:`default_workers`) > 1
    trains that many stacks side by side (threads, one CUDA stream each; see ``engine.concurrent``):
    ``on_epoch`` is then called from those threads, one call at a time, and a space whose
    ``build_stack`` keeps state must be run with ``workers=1``. Outcomes come in plan order either way
    (:func:`plan_stacks`: grouped by stack). ``accel`` defaults to :meth:`Accel.for_device`.
    """
    accel = Accel.for_device(train.device) if accel is None else accel
    workers = 1 if accel.compile else default_workers(train.device) if workers is None else workers
    trainer = StackTrainer(space, train, val, test, protocol, augment,
                           serialized(on_epoch) if workers > 1 else on_epoch, accel)
    stacks = plan_stacks(jobs, space, max_models)
    yield from side_by_side(trainer.train_splitting, stacks, workers, train.device)


@dataclass
class StackTrainer:
    """Trains one planned stack of jobs into outcomes; safe to use from several threads."""

    space: Stackable
    train: TensorSet
    val: TensorSet
    test: TensorSet
    protocol: Protocol
    augment: Augment | None
    on_epoch: Callable[[list[Job], int, torch.Tensor], None] | None
    accel: Accel
    build_lock: threading.Lock = field(default_factory=threading.Lock)  # ``seeded`` uses the global RNG

    def train_splitting(self, group: list[Job]) -> list[Outcome]:
        """:meth:`train_stack`, halving the stack while it does not fit in GPU memory."""
        try:
            return self.train_stack(group)
        except torch.cuda.OutOfMemoryError:
            if len(group) == 1:
                raise
        if self.train.device.type == "cuda":  # outside the except block: its frames hold the tensors
            torch.cuda.empty_cache()
        half = len(group) // 2
        return self.train_splitting(group[:half]) + self.train_splitting(group[half:])

    def train_stack(self, group: list[Job]) -> list[Outcome]:
        start = time.perf_counter()
        seeds = [job.seed for job in group]
        with self.build_lock:
            stack = self.space.build_stack([job.candidate for job in group], seeds, self.train.shape,
                                           self.train.num_classes)
        stack = stack.to(self.train.device)
        trained = self.accel.prepare(stack)  # the same parameters; compiled for training only
        hook: EpochHook | None = None
        if self.on_epoch is not None:
            def hook(epoch: int, losses: torch.Tensor, on_epoch=self.on_epoch) -> None:
                on_epoch(group, epoch, losses)
        report = fit(trained, self.train, self.protocol, seeds, augment=self.augment, on_epoch=hook,
                     accel=self.accel)
        val_acc = accuracy(stack, self.val, len(group), accel=self.accel)
        test_acc = accuracy(stack, self.test, len(group), accel=self.accel)
        seconds = (time.perf_counter() - start) / len(group)
        epochs = self.protocol.epochs
        outcomes = []
        for g, job in enumerate(group):
            failed = int(report.failed_epoch[g])
            if failed >= 0:
                outcomes.append(Outcome(job, "failed", None, None, None, seconds, epochs,
                                        f"training loss became non-finite (nan/inf) in epoch {failed + 1}"))
            else:
                outcomes.append(Outcome(job, "done", float(val_acc[g]), float(test_acc[g]),
                                        float(report.final_loss[g]), seconds, epochs))
        return outcomes
