"""What a stack's training cost, in device-seconds, and each model's measured share of it.

The row of a candidate stores the device-seconds it used (``Outcome.seconds``), not its stack's wall
time: summed over rows it is what the device spent, whether the stacks trained one after another, in
worker threads side by side, or as Ray tasks on other machines. How it is measured (``cost_method``):

- ``thread-cpu`` (CPU, one intra-op thread): the CPU time of the thread that trains the stack
  (``time.thread_time``). With one intra-op thread torch runs every op inline in that thread, so this
  is all the CPU the stack used, and it does not count the time the thread waited for a core that
  other workers or processes held (wall time does).
- ``process-cpu`` (CPU, several intra-op threads, the stack alone in its process: ``--workers 1``,
  the serial executor, a Ray task): the process's CPU time over the stack (``time.process_time``),
  which adds the intra-op threads' time, their spin-waits at the end of each parallel op included:
  that is CPU the stack held. Several intra-op threads therefore cost more CPU than one for the same
  work (measured in ``benchmarks/results/README.md``): the cost is real, and it is the regime's.
- ``thread-cpu×N`` (CPU, N intra-op threads per worker and several workers in one process): the
  training thread's CPU time times N, an estimate (the helpers' time cannot be told apart per worker).
- The clock starts after the stack is built (a candidate's first sight may measure its CPU layout,
  ``engine.layout``) and after the process's one-time imports (:func:`settle`), so no stack carries
  what its process pays once.
- ``cuda-events`` (GPU): the time between CUDA events recorded on the stack's stream before building
  it and after scoring it. Stacks on concurrent streams overlap on the device, so their sum can exceed
  the GPU's wall time by up to the worker count (``CUDA_WORKERS``); one worker gives exclusive time.

A stack of G models is split among them by a measured share: in a plain stack (``ListStack``) each
trained model's seconds for one forward and backward pass (eval mode, the median of three after a
warm-up, once per candidate and trainer), normalised over the stack; a fused stack (grouped
convolutions) by the space's cost estimate (``SearchSpace.cost``), else evenly. A stack of one model
is its whole cost.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

PROBE_RUNS = 3


def settle() -> None:
    """Pay this process's one-time costs before a clock starts: torch imports ``torch._dynamo`` lazily at
    the first optimizer it makes (about 3 CPU-seconds measured here), which would otherwise land on
    whichever stack a process trains first (each Ray worker process's, once)."""
    import torch._dynamo  # noqa: F401


@dataclass
class StackClock:
    """Started before a stack is built, stopped after it is scored: its device-seconds and how measured."""

    device: torch.device
    alone: bool  # the only stack training in this process
    threads: int = field(init=False)
    _start: tuple[float, float] = field(init=False)
    _events: tuple[torch.cuda.Event, torch.cuda.Event] | None = field(default=None, init=False)

    def start(self) -> StackClock:
        self.threads = torch.get_num_threads()
        if self.device.type == "cuda":
            begin = torch.cuda.Event(enable_timing=True)
            self._events = (begin, torch.cuda.Event(enable_timing=True))
            begin.record()
        self._start = (time.thread_time(), time.process_time())
        return self

    def stop(self) -> tuple[float, str]:
        thread, process = time.thread_time() - self._start[0], time.process_time() - self._start[1]
        if self._events is not None:
            begin, end = self._events
            end.record()
            end.synchronize()
            return begin.elapsed_time(end) / 1000.0, "cuda-events"
        if self.threads <= 1:
            return thread, "thread-cpu"
        if self.alone:
            return process, "process-cpu"
        return thread * self.threads, f"thread-cpu×{self.threads}"


def pass_seconds(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Device-seconds of one forward and backward pass of ``model`` (one model) on ``x``."""
    def step() -> None:
        out = model(x)
        F.cross_entropy(out.reshape(-1, out.shape[-1]).float(), y.reshape(-1)).backward()

    if x.device.type == "cuda":
        begin, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        begin.record()
        step()
        end.record()
        end.synchronize()
        seconds = begin.elapsed_time(end) / 1000.0
    else:
        start = time.thread_time()
        step()
        seconds = time.thread_time() - start
    model.zero_grad(set_to_none=True)
    return seconds


def probe(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """The median of :data:`PROBE_RUNS` timed passes of ``model`` after one untimed one."""
    pass_seconds(model, x, y)
    return statistics.median(pass_seconds(model, x, y) for _ in range(PROBE_RUNS))


def shares(weights: Sequence[float]) -> list[float]:
    """``weights`` normalised to sum to one (equal shares when they are all zero)."""
    total = sum(weights)
    if total <= 0:
        return [1.0 / len(weights)] * len(weights)
    return [w / total for w in weights]
