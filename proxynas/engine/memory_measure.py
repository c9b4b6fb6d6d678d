"""A stack's measured peak training memory, to hold the memory model (``engine.memory``) to.

The measurement runs what the prediction traces, for real: the stack built and two steps of
``engine.fit`` (one epoch over ``2 x batch`` images). On the CPU the peak comes from the profiler's
memory events (``torch.profiler`` with ``profile_memory=True``: every allocation and free of torch's
CPU allocator inside the region, summed in time order); on CUDA from ``torch.cuda.max_memory_allocated``
above what was allocated before. Either way the training data (allocated before) is not counted, as
the budget is taken from the memory left free once the data is on the device.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import torch
from torch.profiler import ProfilerActivity, profile

from proxynas.datasets.base import TensorSet
from proxynas.engine.accel import Accel
from proxynas.engine.fit import fit
from proxynas.engine.memory import TRACED_STEPS, Prediction, StepShape
from proxynas.engine.protocol import Protocol
from proxynas.engine.stack import global_rng_lock

if TYPE_CHECKING:
    from proxynas.engine.builder import StackBuilder


TOLERANCE = ("|predicted - measured| <= 2 x the largest tensor the step allocates + 1% of the measured peak: "
             "a CPU kernel's own buffers taken from torch's allocator (oneDNN's reorders of a convolution's "
             "operands, up to two at once in its backward) are not traced; the 1% is the profiler's own small "
             "allocations")


def within_tolerance(predicted: Prediction, measured: int) -> bool:
    """Whether a prediction meets a measured peak on the CPU (:data:`TOLERANCE`, the memory tests' bound)."""
    return abs(predicted.peak - measured) <= 2 * predicted.largest + 0.01 * measured


def measurement_data(data: TensorSet, batch: int) -> TensorSet:
    """The first ``TRACED_STEPS x batch`` images of ``data``: one epoch is the traced steps."""
    if len(data) < TRACED_STEPS * batch:
        raise ValueError(f"measuring needs {TRACED_STEPS * batch} images, the set has {len(data)}")
    return data.subset(torch.arange(TRACED_STEPS * batch, device=data.device))


def step_shape(data: TensorSet, batch: int, accel: Accel) -> StepShape:
    """The step shape :func:`measured_peak` trains with (the prediction to compare it with)."""
    return StepShape.of(batch, TRACED_STEPS * batch, data.shape, data.num_classes, accel, data.device)


def _train(space: StackBuilder, candidates: Sequence[Any], data: TensorSet, batch: int, accel: Accel) -> None:
    seeds = list(range(len(candidates)))
    with global_rng_lock:
        stack = space.build_stack(list(candidates), seeds, data.shape, data.num_classes)
    stack = accel.prepare(stack.to(data.device))
    fit(stack, data, Protocol(epochs=1, batch_size=batch), seeds, accel=accel)


def profiler_peak(prof: profile) -> int:
    """Peak of the bytes allocated inside a profiled region: its memory events (kineto's, one per
    allocation or free, sized in bytes, negative for a free) summed in time order."""
    events = sorted((e.start_ns(), e.nbytes()) for e in prof.profiler.kineto_results.events()
                    if e.name() == "[memory]")
    live = peak = 0
    for _, change in events:
        live += change
        peak = max(peak, live)
    return peak


def measured_peak(space: StackBuilder, candidates: Sequence[Any], data: TensorSet, batch: int, accel: Accel) -> int:
    """Peak bytes allocated while the stack of ``candidates`` is built and trains two steps on ``data``
    (its first ``2 x batch`` images, on the device to measure)."""
    data = measurement_data(data, batch)
    if data.device.type == "cuda":
        torch.cuda.synchronize(data.device)
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(data.device)
        before = torch.cuda.memory_allocated(data.device)
        _train(space, candidates, data, batch, accel)
        torch.cuda.synchronize(data.device)
        return int(torch.cuda.max_memory_allocated(data.device) - before)
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        _train(space, candidates, data, batch, accel)
    return profiler_peak(prof)
