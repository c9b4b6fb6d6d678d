"""What runs in a Ray worker process: one planned stack, trained by the engine's ``StackTrainer``.

Ray reuses a CPU task's worker process for the next task, so the process fetches a run's data from
the object store and places it on its device once, and keeps that trainer (by the data's object
ref) for the run's next stacks. A GPU task gets a process of its own (Ray's default, ``max_calls=1``):
its GPU memory is released when it ends, and the next task's process sees the GPU Ray gives it.
"""

from __future__ import annotations

import logging
from collections import OrderedDict

import ray
import torch

from proxynas.engine.executors import placed
from proxynas.engine.run import Job, Outcome, StackTrainer, TrainingTask

log = logging.getLogger(__name__)


class PlacedTrainers:
    """The trainers of the runs this process has placed on its device, the latest ``capacity`` of them
    (older ones are dropped before a new run's data is placed, so their device memory can be reused)."""

    def __init__(self, capacity: int = 1) -> None:
        self.capacity = capacity
        self._trainers: OrderedDict[tuple[bytes, str], StackTrainer] = OrderedDict()
        self.placed = 0  # runs placed by this process so far

    def get(self, payload: ray.ObjectRef, device: str) -> StackTrainer:
        """The trainer of the task ``payload`` refers to, with its data on ``device``."""
        key = (payload.binary(), device)
        if key not in self._trainers:
            while len(self._trainers) >= self.capacity:
                self._trainers.popitem(last=False)
            task: TrainingTask = ray.get(payload)
            on_device = placed(task, device)  # as the local executors place it (on the CPU: freed memory kept)
            log.info("placed %d training images on %s", len(on_device.train), on_device.device)
            self._trainers[key] = on_device.trainer()
            self.placed += 1
        self._trainers.move_to_end(key)
        return self._trainers[key]


TRAINERS = PlacedTrainers()  # this worker process's: Ray imports this module once per process


def train_stack(payload: list[ray.ObjectRef], device: str, threads: int, stack: list[Job]) -> list[Outcome]:
    """Train one planned stack (in a Ray worker) and return its outcomes.

    ``payload`` holds the task's object ref inside a list so that Ray hands over the ref itself, not
    its value: the value is fetched only when this process has not placed it yet.
    """
    torch.set_num_threads(threads)
    return TRAINERS.get(payload[0], device).train_splitting(stack)
