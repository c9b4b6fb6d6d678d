"""Train (candidate, seed) jobs in stacks and yield one outcome per job as its stack finishes."""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol as TypingProtocol

import torch
from torch import nn

from proxynas.datasets.base import TensorSet
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
) -> Iterator[Outcome]:
    """Train every job on ``train`` (tensors already on the device) and score it on ``val`` and ``test``."""
    device = train.device
    for group in plan_stacks(jobs, space, max_models):
        start = time.perf_counter()
        seeds = [job.seed for job in group]
        stack = space.build_stack([job.candidate for job in group], seeds, train.shape, train.num_classes)
        stack = stack.to(device)
        hook: EpochHook | None = None
        if on_epoch is not None:
            def hook(epoch: int, losses: torch.Tensor, group: list[Job] = group) -> None:
                on_epoch(group, epoch, losses)
        report = fit(stack, train, protocol, seeds, augment=augment, on_epoch=hook)
        val_acc = accuracy(stack, val, len(group))
        test_acc = accuracy(stack, test, len(group))
        seconds = (time.perf_counter() - start) / len(group)
        for g, job in enumerate(group):
            failed = int(report.failed_epoch[g])
            loss = float(report.final_loss[g])
            if failed >= 0:
                yield Outcome(job, "failed", None, None, None, seconds, protocol.epochs,
                              f"training loss became non-finite (nan/inf) in epoch {failed + 1}")
            else:
                yield Outcome(job, "done", float(val_acc[g]), float(test_acc[g]), loss, seconds, protocol.epochs)
