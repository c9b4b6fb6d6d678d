"""Executors: who trains the planned stacks of a task. One registry, one interface, one engine.

``serial`` trains the stacks one after another in this thread; ``threads`` (also called ``local``)
trains ``workers`` stacks side by side in threads (``engine.concurrent``); ``ray`` (``proxynas.scaleout``)
sends every stack to a Ray cluster as a task: it registers itself from its own module, found through
the ``proxynas.executors`` entry point as any third-party executor is (:mod:`proxynas.plugins`); the
engine never imports it. Whatever the executor, a stack is trained by the same
:class:`~proxynas.engine.run.StackTrainer`, so the outcomes are the same (the engine's invariant).
Only the caller (the driver) writes the results store.

A new executor is a class with ``__init__(options)`` and ``run``, decorated with
``@register_executor("name", options=TheirOptions)``: ``TheirOptions`` is a frozen dataclass subclassing
:class:`ExecutorOptions`; each of its own fields made with ``field(metadata=flag("--their-flag", "help"))``
is a command-line flag of the training commands (``proxynas.cli.options``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import Field, dataclass, field, fields
from typing import Any

import torch

from proxynas.engine.batching import default_stack_size, default_workers
from proxynas.engine.checkpoint import CheckpointSettings
from proxynas.engine.concurrent import WorkerStreams, serialized, side_by_side
from proxynas.engine.cpu_memory import keep_freed_memory
from proxynas.engine.device import describe, resolve_device
from proxynas.engine.memory import check_fraction
from proxynas.engine.run import EpochCallback, Job, Outcome, TrainingTask
from proxynas.engine.stopping import StopRequest, stoppable
from proxynas.errors import ProxynasError
from proxynas.registry import Registry


def flag(name: str, help: str, **argparse: Any) -> dict[str, Any]:
    """Metadata making an options field a command-line flag: ``field(default=1.0, metadata=flag("--x",
    "what it does"))``; ``argparse``: more of ``add_argument``'s keywords (``metavar``, ``type``)."""
    return {"flag": name, "help": help, "argparse": argparse}


@dataclass(frozen=True)
class ExecutorOptions:
    """How to run a plan's stacks, for every executor; an executor with options of its own subclasses
    this (``@register_executor(..., options=...)``)."""

    name: str = "local"
    device: str | None = None  # where to train ("cpu", "cuda", "auto"); None: where the task's data is
    workers: int | None = None  # threads: stacks side by side (default: the device's, engine.batching)
    memory_budget: float | None = None  # stacks sized to this fraction of free device memory (engine.memory)
    checkpoint: CheckpointSettings = field(default_factory=CheckpointSettings)  # when stacks save (engine.checkpoint)

    def __post_init__(self) -> None:
        if self.workers is not None and self.workers < 1:
            raise ProxynasError(f"--workers must be at least 1, got {self.workers}", "pass --workers 1 or more")
        if self.memory_budget is not None:
            check_fraction(self.memory_budget)

    def describe(self) -> str:
        """Where the stacks train, in words (the CLI's progress line)."""
        return describe(resolve_device(self.device))


def own_flags(options: type[ExecutorOptions]) -> list[Field[Any]]:
    """The fields of ``options`` that are command-line flags (``flag``)."""
    return [f for f in fields(options) if "flag" in f.metadata]


class Executor(ABC):
    """Trains the stacks of a task and yields one outcome per job as stacks finish."""

    device: str | None = None  # where stacks train; None: where the task's data is
    # told how many stacks are training now whenever that may change, by executors that can tell (ray);
    # the caller sets it (the CLI's progress bar)
    on_running: Callable[[int], None] | None = None
    # asked to stop by the caller (runs.train_into_store): after a ``finish`` request no stack starts and
    # the running ones end and are yielded; after ``now`` they stop at their next step, yielding nothing
    stop: StopRequest | None = None
    memory_budget: float | None = None  # ExecutorOptions.memory_budget (the planner reads it, engine.memory)
    checkpoint: CheckpointSettings | None = None  # ExecutorOptions.checkpoint (runs.train_into_store reads it)

    @abstractmethod
    def run(self, task: TrainingTask, stacks: Sequence[list[Job]],
            on_epoch: EpochCallback | None = None) -> Iterator[Outcome]: ...

    def target_device(self, data_device: torch.device) -> torch.device:
        """The kind of device the stacks will train on (for defaults such as the stack size)."""
        return data_device if self.device is None else resolve_device(self.device)

    def default_stack_size(self, data_device: torch.device) -> int:
        return default_stack_size(self.target_device(data_device))


@dataclass(frozen=True)
class ExecutorKind:
    """A registered executor: what makes it, and the options it reads."""

    name: str
    make: Callable[[Any], Executor]
    options: type[ExecutorOptions]


EXECUTORS: Registry[ExecutorKind] = Registry("executor", group="proxynas.executors")


def register_executor(name: str, *, options: type[ExecutorOptions] = ExecutorOptions) -> Callable[[Any], Any]:
    """Decorator on an executor class (or a function ``options -> Executor``): ``@register_executor("serial")``;
    ``options``: its own options dataclass, a subclass of :class:`ExecutorOptions`."""
    if not (isinstance(options, type) and issubclass(options, ExecutorOptions)):
        raise TypeError(f"executor '{name}': options must be a subclass of ExecutorOptions, got {options!r}")

    def add(make: Any) -> Any:
        EXECUTORS.register(name)(ExecutorKind(name, make, options))
        return make

    return add


def options_for(options: ExecutorOptions) -> ExecutorOptions:
    """``options`` as the options type of the executor it names (unknown names: one line listing the
    registered ones); the executor's own fields keep their defaults when ``options`` lacks them."""
    kind = EXECUTORS.get(options.name)
    if isinstance(options, kind.options):
        return options
    return kind.options(**{f.name: getattr(options, f.name) for f in fields(ExecutorOptions)})


def make_executor(options: ExecutorOptions | None = None) -> Executor:
    options = options_for(ExecutorOptions() if options is None else options)
    executor = EXECUTORS.get(options.name).make(options)
    executor.memory_budget = options.memory_budget
    executor.checkpoint = options.checkpoint
    return executor


def list_executors() -> list[str]:
    return EXECUTORS.names()


def executor_flags() -> list[tuple[str, Field[Any]]]:
    """(executor, field) for the command-line flags of every registered executor; a flag two executors
    share (the same field name) is listed once, with the first."""
    seen: set[str] = set()
    found = []
    for name in list_executors():
        for f in own_flags(EXECUTORS.get(name).options):
            if f.name not in seen:
                seen.add(f.name)
                found.append((name, f))
    return found


def placed(task: TrainingTask, device: str | None) -> TrainingTask:
    """``task`` on the device ``device`` names (None: where it is), this process made ready to train
    there: on the CPU, freed memory is kept for reuse (``engine.cpu_memory``), before any worker
    thread starts (a thread keeps the malloc arena it first used)."""
    task = task if device is None else task.to(resolve_device(device))
    if task.device.type == "cpu":
        keep_freed_memory()
    return task


def stack_work(task: TrainingTask, on_epoch: EpochCallback | None, stop: StopRequest | None, *,
               alone: bool = True) -> Callable[[list[Job]], list[Outcome]]:
    """A new trainer's ``train_splitting``, honouring ``stop`` (engine.stopping): a stack started after
    a stop was asked trains nothing, one halted by a stop ``now`` returns no outcome."""
    trainer = task.trainer(on_epoch, None if stop is None else stop.check, alone=alone)
    return stoppable(trainer.train_splitting, stop, lambda stack: [job.candidate.id for job in stack])


@register_executor("serial")
class SerialExecutor(Executor):
    """One stack after another, in the calling thread."""

    def __init__(self, options: ExecutorOptions | None = None) -> None:
        self.device = None if options is None else options.device

    def run(self, task: TrainingTask, stacks: Sequence[list[Job]],
            on_epoch: EpochCallback | None = None) -> Iterator[Outcome]:
        train = stack_work(placed(task, self.device), on_epoch, self.stop)
        for stack in stacks:
            if self.stop is not None and self.stop.asked:
                return
            yield from train(stack)


@register_executor("threads")
@register_executor("local")
class LocalExecutor(Executor):
    """``workers`` stacks side by side in threads of this process, one CUDA stream each."""

    def __init__(self, options: ExecutorOptions | int | None = None) -> None:
        if not isinstance(options, ExecutorOptions):
            options = ExecutorOptions(workers=options)
        self.workers, self.device = options.workers, options.device
        self.streams: WorkerStreams | None = None  # the last run's streams (the tests count them)

    def run(self, task: TrainingTask, stacks: Sequence[list[Job]],
            on_epoch: EpochCallback | None = None) -> Iterator[Outcome]:
        task = placed(task, self.device)
        workers = self.workers_for(task)
        self.streams = WorkerStreams(task.device)
        hook = serialized(on_epoch) if workers > 1 else on_epoch
        alone = workers <= 1 or len(stacks) <= 1  # no other stack trains meanwhile (engine.cost)
        yield from side_by_side(lambda: stack_work(task, hook, self.stop, alone=alone), stacks, workers,
                                task.device, self.streams)

    def workers_for(self, task: TrainingTask) -> int:
        """Compiled stacks train one at a time: compiling is not thread-safe."""
        if task.accel is not None and task.accel.compile:
            return 1
        return default_workers(task.device) if self.workers is None else self.workers


__all__ = ["EXECUTORS", "Executor", "ExecutorKind", "ExecutorOptions", "LocalExecutor", "SerialExecutor",
           "executor_flags", "flag", "list_executors", "make_executor", "options_for", "own_flags", "register_executor"]
