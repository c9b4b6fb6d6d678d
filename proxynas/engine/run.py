"""Train (candidate, seed) jobs in stacks and yield one outcome per job as its stack finishes.

The engine's invariant: an outcome is a function of (candidate, training set, protocol, seed) alone.
Stack size, worker count, executor, plan order and out-of-memory splits never change it, because every
random number a model uses is drawn from its own seed (``engine.fit``) and evaluation scores each image
on its own. ``tests/test_engine_invariant.py`` holds the engine to it.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import torch
from torch import nn

from proxynas.augment import Augment
from proxynas.datasets.base import TensorSet
from proxynas.engine.accel import Accel, compile_failures, regime_of
from proxynas.engine.builder import StackBuilder, cost_of, layout_key_of
from proxynas.engine.cost import StackClock, probe, settle, shares
from proxynas.engine.device import describe
from proxynas.engine.fit import FitReport, accuracy, fit, release_cached_memory
from proxynas.engine.layout import LayoutChooser
from proxynas.engine.protocol import Protocol
from proxynas.engine.snapshots import Snapshots, StackSnapshots
from proxynas.engine.stack import ListStack, global_rng_lock
from proxynas.paths import home

if TYPE_CHECKING:  # the space contract imports the engine's stacks; the engine needs only its types
    from proxynas.engine.checkpoint import Checkpoints, StackCheckpoint
    from proxynas.engine.train_state import TrainState
    from proxynas.spaces import Candidate

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Job:
    candidate: Candidate
    seed: int


@dataclass(frozen=True)
class Outcome:
    job: Job
    status: str  # "done" or "failed"
    val_acc: float | None
    test_acc: float | None
    train_loss: float | None
    seconds: float  # device-seconds this job used: its measured share of its stack's (``engine.cost``)
    epochs: int
    reason: str | None = None
    device: str | None = None  # where it trained (``engine.describe``)
    regime: str = "fp32"  # the numeric regime it trained in (``proxynas.identity.regime_of``)
    cost_method: str = ""  # how ``seconds`` was measured (``engine.cost``)
    # (file, outcomes of its stack): the stack's checkpoint, removed once they are all stored (engine.checkpoint)
    checkpoint: tuple[str, int] | None = None


@dataclass(frozen=True)
class EpochEnd:
    """What the per-epoch hook receives: the stack's jobs, the epoch (from 0), each model's mean loss
    (on the device) and the stack itself, in training mode (evaluating it is allowed)."""

    jobs: list[Job]
    epoch: int
    losses: torch.Tensor
    stack: nn.Module


EpochCallback = Callable[[EpochEnd], None]


@dataclass(frozen=True)
class TrainingTask:
    """Everything a stack's training needs besides its jobs. It pickles, so it can travel to workers."""

    space: StackBuilder
    train: TensorSet
    val: TensorSet
    test: TensorSet
    protocol: Protocol
    augment: Augment | None = None
    accel: Accel | None = None  # None: the defaults of the device the task runs on
    checkpoints: Checkpoints | None = None  # None: stacks save nothing (engine.checkpoint)
    snapshots: Snapshots | None = None  # per-epoch states kept and restored where stacks train (engine.snapshots)

    @property
    def device(self) -> torch.device:
        return self.train.device

    def to(self, device: torch.device) -> TrainingTask:
        """The task with its tensors on ``device`` (itself when they are there already)."""
        if all(d.device == device for d in (self.train, self.val, self.test)):
            return self
        val = self.val.to(device)
        test = val if self.test is self.val else self.test.to(device)  # one set stays one (one evaluation)
        return replace(self, train=self.train.to(device), val=val, test=test)

    def trainer(self, on_epoch: EpochCallback | None = None, stop: Callable[[], None] | None = None, *,
                alone: bool = True) -> StackTrainer:
        """``stop`` is called before every step (engine.stopping); ``alone``: the trainer's stacks are the
        only ones training in this process (``engine.cost``)."""
        accel = Accel.for_device(self.device) if self.accel is None else self.accel
        return StackTrainer(self, accel, on_epoch, stop, alone)


def plan_stacks(jobs: Iterable[Job], space: StackBuilder, max_models: int,
                input_shape: Sequence[int] | None = None) -> list[list[Job]]:
    """Group jobs whose candidates can share one stack, at most ``max_models`` per stack, order kept;
    with ``input_shape``, when the space can tell each candidate's cost (``engine.builder.CostAware``), the
    costliest stacks come first: side-by-side workers then finish together instead of one training
    the largest model alone at the end (longest-first scheduling)."""
    groups: dict[Hashable, list[Job]] = {}
    for job in jobs:
        groups.setdefault(space.stack_key(job.candidate), []).append(job)
    stacks = [group[i:i + max_models] for group in groups.values() for i in range(0, len(group), max_models)]
    if input_shape is None:
        return stacks
    costs = [[cost_of(space, job.candidate, input_shape) for job in stack] for stack in stacks]
    if any(c is None for stack in costs for c in stack):
        return stacks
    order = sorted(range(len(stacks)), key=lambda i: -sum(costs[i]))  # stable: ties keep the plan's order
    return [stacks[i] for i in order]


@dataclass
class StackTrainer:
    """Trains planned stacks of one task into outcomes. One trainer per worker thread or process."""

    task: TrainingTask
    accel: Accel
    on_epoch: EpochCallback | None = None
    stop: Callable[[], None] | None = None  # called before every step; raises to stop (engine.stopping)
    alone: bool = True  # no other stack trains in this process meanwhile (how its cost is measured)
    compile_error: str | None = field(default=None, init=False)  # set once torch.compile has failed
    layouts: LayoutChooser | None = field(default=None, init=False)  # CPU layout decisions (choose_layout)
    probed: dict[str, float] = field(default_factory=dict, init=False)  # candidate -> one pass's seconds

    def train_splitting(self, group: list[Job], inherited: TrainState | None = None) -> list[Outcome]:
        """:meth:`train_stack`, halving the stack while it runs out of memory in training.

        The stack that ran out is freed before the halves are built (its last references are the
        exception's frames); evaluation handles its own out-of-memory errors and never retrains. With
        checkpoints (``engine.checkpoint``) each half continues from its slice of the stack's latest
        state (``inherited``: a state handed down by a split above), where the stack's structure allows.
        """
        try:
            return self.train_stack(group, inherited)
        except torch.OutOfMemoryError:
            if len(group) == 1:
                raise
        release_cached_memory(self.task.device)  # outside the except block: its frames hold the stack
        half = len(group) // 2
        log.info("out of memory training %d models at once; training them in halves", len(group))
        parent = self.checkpoint(group, None, inherited)
        state = None if parent is None else parent.latest()
        slices = (None, None) if state is None else (state.slice(0, half), state.slice(half, len(group)))
        if state is not None and slices[0] is None:
            log.info("the stack's parameters hold several models (a fused stack): its halves start from epoch 0")
        outcomes = self.train_splitting(group[:half], slices[0]) + self.train_splitting(group[half:], slices[1])
        if parent is not None:
            parent.remove()  # its halves hold its progress now, in their own checkpoints
        return outcomes

    def checkpoint(self, group: list[Job], clock: StackClock | None,
                   inherited: TrainState | None = None) -> StackCheckpoint | None:
        if self.task.checkpoints is None or not self.task.checkpoints.settings.enabled:
            return None
        return self.task.checkpoints.stack(group, self.task.device, self.accel, clock, inherited)

    def train_stack(self, group: list[Job], inherited: TrainState | None = None) -> list[Outcome]:
        task = self.task
        stack = self.build(group)  # a first sight of a candidate may measure its CPU layout: not its cost
        settle()
        clock = StackClock(task.device, self.alone).start()
        saving = self.checkpoint(group, clock, inherited)
        try:
            report = self.run_fit(stack, group, self.accel if self.compile_error is None else self.accel.eager(),
                                  saving)
        except compile_failures() as err:
            self.compile_error = f"{type(err).__name__}: {' '.join(str(err).split())[:300]}"
            log.warning("torch.compile failed (%s); this run trains the rest of its stacks eager",
                        self.compile_error)
            stack = self.build(group)
            report = self.run_fit(stack, group, self.accel.eager(), saving)
        val_acc = accuracy(stack, task.val, len(group), task.protocol.batch_size, self.accel)
        test_acc = (val_acc if task.test is task.val  # the same set (a benchmark's, a test's): scored once
                    else accuracy(stack, task.test, len(group), task.protocol.batch_size, self.accel))
        total, method = clock.stop()
        total += 0.0 if saving is None else saving.seconds_before  # earlier trainings' share, resumed
        ref = None if saving is None else (str(saving.path), len(group))
        split = self.shares(group, stack)
        epochs, where = task.protocol.total_epochs, describe(task.device)
        regime = regime_of(self.accel, task.device)
        outcomes = []
        for g, job in enumerate(group):
            failed = int(report.failed_epoch[g])
            seconds = total * split[g]
            if failed >= 0:
                outcomes.append(Outcome(job, "failed", None, None, None, seconds, epochs,
                                        f"training loss became non-finite (nan/inf) in epoch {failed + 1}",
                                        where, regime, method, ref))
            else:
                outcomes.append(Outcome(job, "done", float(val_acc[g]), float(test_acc[g]),
                                        float(report.final_loss[g]), seconds, epochs, None, where, regime, method,
                                        ref))
        return outcomes

    def shares(self, group: list[Job], stack: nn.Module) -> list[float]:
        """Each job's share of its stack's cost, measured (``engine.cost``); one job has all of it.

        A plain stack's models are timed one by one (the trained modules themselves, in eval mode: no
        model is built again); a fused stack is split by the space's cost estimate, else evenly."""
        if len(group) == 1:
            return [1.0]
        task = self.task
        if isinstance(stack, ListStack):
            batch = min(task.protocol.batch_size, len(task.train))
            x, y = task.train.images[:batch], task.train.labels[:batch]
            stack.eval()
            for job, model in zip(group, stack.models, strict=True):
                if job.candidate.id not in self.probed:
                    with self.accel.autocast(task.device):
                        self.probed[job.candidate.id] = probe(model, x, y)
            return shares([self.probed[job.candidate.id] for job in group])
        weights = [cost_of(task.space, job.candidate, task.train.shape) for job in group]
        return shares([1.0 if w is None else float(w) for w in weights])

    def build(self, group: list[Job]) -> nn.Module:
        task = self.task
        with global_rng_lock:  # builders draw from torch's global RNG (``seeded``), shared by all threads
            stack = task.space.build_stack([job.candidate for job in group], [job.seed for job in group],
                                           task.train.shape, task.train.num_classes)
        stack = stack.to(task.device)
        if self.accel.choose_layout and task.device.type == "cpu" and isinstance(stack, ListStack):
            self.choose_layouts(stack, group)
        return stack

    def choose_layouts(self, stack: ListStack, group: list[Job]) -> None:
        """Each model in the layout measured faster for its kind (``engine.layout``), decided per
        candidate, never per stack: a model trains the same whatever its stack-mates."""
        task = self.task
        if self.layouts is None:
            self.layouts = LayoutChooser(home() / "cpu_layouts.json")
        batch = min(task.protocol.batch_size, len(task.train))
        for model, job in zip(stack.models, group, strict=True):
            key = layout_key_of(task.space, job.candidate)

            def build(model: nn.Module = model) -> nn.Module:
                # a copy of the model itself: nothing is built through the space (whose builder may
                # count, log or draw), and the model keeps its weights, statistics and gradients
                return ListStack([copy.deepcopy(model)])

            if self.layouts.channels_last(key, build, task.train.shape, task.train.num_classes, batch):
                model.to(memory_format=torch.channels_last)

    def run_fit(self, stack: nn.Module, group: list[Job], accel: Accel,
                checkpoint: StackCheckpoint | None = None) -> FitReport:
        hook = None
        if self.on_epoch is not None:
            def hook(epoch: int, losses: torch.Tensor, on_epoch=self.on_epoch) -> None:
                on_epoch(EpochEnd(group, epoch, losses, stack))
        with accel.compiling():
            return fit(accel.prepare(stack), self.task.train, self.task.protocol, [job.seed for job in group],
                       augment=self.task.augment, on_epoch=hook, accel=accel, stop=self.stop,
                       snapshots=None if self.task.snapshots is None else StackSnapshots(self.task.snapshots, group),
                       checkpoint=checkpoint)
