"""What runs in a Ray actor: a worker that stays for a whole run and trains the stacks sent to it.

One :class:`StackWorker` per slot of the cluster (a GPU, a fraction of one, or ``--cpus-per-task``
CPUs): its process starts once, places the run's data on its device once (``engine.executors.placed``,
as the local executors do) and keeps one ``StackTrainer`` for every stack the driver sends it. On a
fractional GPU it caps its CUDA caching allocator at its share (:func:`limit_memory`), so the actors
sharing a GPU cannot starve each other. A stack that runs out of memory is halved inside the actor
(``StackTrainer.train_splitting``, as on one machine); a model that runs out even alone is answered as
such (:class:`StackResult`), never raised: its stack-mates' outcomes are kept, the actor stays, the run
goes on.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field

import torch

from proxynas.engine.device import resolve_device
from proxynas.engine.executors import placed
from proxynas.engine.fit import release_cached_memory
from proxynas.engine.run import Job, Outcome, TrainingTask

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StackResult:
    """A stack's answer from its actor: the outcomes of its jobs, and the jobs whose model ran out of
    memory even alone (with the first such error's first line)."""

    outcomes: list[Outcome] = field(default_factory=list)
    unfit: list[Job] = field(default_factory=list)
    out_of_memory: str | None = None
    pid: int = 0  # the actor's process
    trained: int = 0  # stacks this actor has trained so far, this one included


def memory_fraction(num_gpus: float) -> float | None:
    """The share of its GPU an actor holding ``num_gpus`` may allocate: the fraction itself below one
    GPU, None (no cap) for a whole GPU or more, or none."""
    return num_gpus if 0 < num_gpus < 1 else None


def limit_memory(device: torch.device, fraction: float | None) -> float | None:
    """Cap this process's CUDA caching allocator on ``device`` at ``fraction`` of the GPU's memory
    (``torch.cuda.set_per_process_memory_fraction``); an allocation beyond it raises
    ``torch.OutOfMemoryError``, which the trainer handles. Nothing to cap on the CPU. The CUDA context
    itself (a few hundred MB per process) lies outside the cap. Returns the fraction set, if any."""
    if fraction is None or device.type != "cuda":
        return None
    torch.cuda.set_per_process_memory_fraction(fraction, device)
    log.info("this actor may allocate %.3g of %s's memory", fraction, device)
    return fraction


class StackWorker:
    """The body of one Ray actor (``ray.remote(...)(StackWorker)`` in ``scaleout.pool``); a plain class,
    so that it also runs in-process."""

    def __init__(self, task: TrainingTask, device: str, threads: int, fraction: float | None = None) -> None:
        torch.set_num_threads(threads)
        where = resolve_device(device)  # "cuda": the GPU Ray gave this process (CUDA_VISIBLE_DEVICES)
        self.fraction = limit_memory(where, fraction)
        on_device = placed(task, device)  # once for the actor's life (on the CPU: freed memory kept)
        log.info("placed %d training images on %s", len(on_device.train), on_device.device)
        self.trainer = on_device.trainer()
        self.trained = 0

    def train(self, stack: list[Job]) -> StackResult:
        """Train one planned stack, halving it while it runs out of memory (``train_splitting``). When a
        model runs out even alone, the stack's models are trained one by one, so that the others'
        outcomes are kept, and that model is answered as unfit; the actor gives its memory back and stays."""
        self.trained += 1
        outcomes, unfit, reason = self.fitting(stack)
        return StackResult(outcomes, unfit, reason, os.getpid(), self.trained)

    def fitting(self, stack: list[Job]) -> tuple[list[Outcome], list[Job], str | None]:
        try:
            return self.trainer.train_splitting(stack), [], None
        except torch.OutOfMemoryError as err:
            reason = f"{type(err).__name__}: {(str(err).strip().splitlines() or [''])[0][:200]}"
        release_cached_memory(self.trainer.task.device)  # outside the except block: its frames hold the stack
        if len(stack) == 1:
            log.warning("out of memory training %s alone: %s", stack[0].candidate.id, reason)
            return [], list(stack), reason
        log.warning("a model of this stack runs out of memory alone (%s): training its %d models one by one",
                    reason, len(stack))
        outcomes: list[Outcome] = []
        unfit: list[Job] = []
        for job in stack:
            done, lost, _ = self.fitting([job])
            outcomes += done
            unfit += lost
        return outcomes, unfit, reason

    def pid(self) -> int:
        return os.getpid()
