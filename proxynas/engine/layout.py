"""Each model's memory layout on the CPU: channels_last or contiguous, measured once and remembered.

On the CPU neither layout is faster for every candidate. Measured on the 2-core development CPU
(``benchmarks/profile_cpu.py``, results in ``benchmarks/results/``): channels_last trains a batch-norm
or group-norm ConvNet with pooling up to 1.4-1.5x faster (oneDNN convolutions and pooling without
reorders), and a layer-norm or instance-norm one 0.75-0.85x as fast (those norms' kernels copy or
stride through NHWC tensors). So the engine does not guess: the first time it meets a *layout key*
(for dc_convnet the depth, width, pooling and norm; any search space may say, else the candidate id),
an input shape and a batch size, it times a forward and backward pass of a throwaway model of that
kind in both layouts (CPU time of this thread, so other processes' load counts little) and keeps the
faster; channels_last only when it is faster by a clear margin.

Decisions are stored per machine (CPU model, torch) in ``$PROXYNAS_HOME/cpu_layouts.json``,
so a machine decides once and then always trains a candidate the same way: an outcome stays a function
of (candidate, training set, protocol, seed) on that machine, whatever else is in its stack or run.
The layouts differ only in the order of float additions inside convolutions and norms, so a decision
moves a result by float rounding at most (``tests/test_engine_layout.py``).

``$PROXYNAS_CPU_LAYOUT`` overrides the measurement: ``measure`` (the default), ``contiguous`` or
``channels_last`` for every model (``Accel.for_device`` reads it). The test suite pins ``contiguous``
(``tests/conftest.py``) so that no test depends on a decision measured on, and cached for, one machine.
The measurement times a copy of the model it decides for: it builds nothing through the search space,
draws nothing from the global RNG, and leaves the model itself untouched.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import threading
import time
from collections.abc import Callable, Hashable, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from proxynas.atomic import atomic_write_text
from proxynas.errors import ProxynasError

log = logging.getLogger(__name__)

CHANNELS_LAST, CONTIGUOUS = "channels_last", "contiguous"
MEASURE = "measure"
LAYOUT_ENV = "PROXYNAS_CPU_LAYOUT"  # measure | contiguous | channels_last
MARGIN = 0.95  # channels_last must take under 95% of the contiguous time to be chosen
MEASURE_BATCH = 128  # the batch measured (or the training batch when smaller); at 64 the ratio was too noisy
REPEAT = 3  # timed passes per layout, alternating, after one warm-up each; the fastest counts

_file_lock = threading.Lock()  # one measurement and one write at a time in this process


def cpu_layout_setting() -> str:
    """``$PROXYNAS_CPU_LAYOUT``: how the CPU lays out models (``measure`` when unset)."""
    value = os.environ.get(LAYOUT_ENV, "").strip().lower() or MEASURE
    if value not in (MEASURE, CONTIGUOUS, CHANNELS_LAST):
        raise ProxynasError(f"{LAYOUT_ENV}={value!r} is not a CPU layout",
                            f"set it to {MEASURE}, {CONTIGUOUS} or {CHANNELS_LAST}, or unset it")
    return value


def machine_key() -> str:
    """What a decision holds for: this CPU and this torch (whatever the thread count, so that one
    machine trains a candidate in one layout whether it runs one worker or several)."""
    return f"{cpu_model()} | torch {torch.__version__}"


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_seconds(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """CPU seconds of this thread for one forward and backward pass of ``model`` (a stack) on ``x``."""
    start = time.thread_time()
    loss = F.cross_entropy(model(x).flatten(0, 1), y.flatten())
    loss.backward()
    seconds = time.thread_time() - start
    model.zero_grad(set_to_none=True)
    return seconds


def measure(build: Callable[[], nn.Module], input_shape: Sequence[int], num_classes: int,
            batch: int) -> dict[str, float]:
    """Fastest CPU seconds of a forward and backward pass of ``build()`` in each layout, on ``batch``
    random inputs of ``input_shape``."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1, batch, *input_shape, generator=g)
    y = torch.randint(0, num_classes, (1, batch), generator=g)
    models = {CONTIGUOUS: build(), CHANNELS_LAST: build().to(memory_format=torch.channels_last)}
    times: dict[str, list[float]] = {name: [] for name in models}
    for model in models.values():
        cpu_seconds(model, x, y)  # warm-up: oneDNN makes its kernels on the first call of a shape
    for _ in range(REPEAT):
        for name, model in models.items():
            times[name].append(cpu_seconds(model, x, y))
    return {name: min(t) for name, t in times.items()}


class LayoutChooser:
    """Decides (and remembers in ``path``) each model's layout; safe to share between threads."""

    def __init__(self, path: Path | None) -> None:
        self.path, self.machine = path, machine_key()
        self.known: dict[str, str] = {}

    def channels_last(self, key: Hashable, build: Callable[[], nn.Module], input_shape: Sequence[int],
                      num_classes: int, batch: int) -> bool:
        """Whether models of ``key`` train faster in channels_last on these inputs (measured once)."""
        batch = min(batch, MEASURE_BATCH)  # what is measured; larger training batches share the decision
        entry = f"{key} | {'x'.join(map(str, input_shape))} | batch {batch}"
        if entry not in self.known:
            with _file_lock:
                stored = self.load()
                if entry not in stored:
                    seconds = measure(build, input_shape, num_classes, batch)
                    faster = seconds[CHANNELS_LAST] < MARGIN * seconds[CONTIGUOUS]
                    stored[entry] = CHANNELS_LAST if faster else CONTIGUOUS
                    log.debug("layout of %s: %s (%s)", entry, stored[entry], seconds)
                    self.save(entry, stored[entry])
                self.known.update(stored)
        return self.known[entry] == CHANNELS_LAST

    def load(self) -> dict[str, str]:
        return dict(self.read().get(self.machine, {}))

    def read(self) -> dict[str, Any]:
        if self.path is None or not self.path.exists():
            return {}
        try:
            return json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}

    def save(self, entry: str, layout: str) -> None:
        if self.path is None:
            return
        everything = self.read()
        everything.setdefault(self.machine, {})[entry] = layout
        try:  # atomic: another process reads the old file or the new one
            atomic_write_text(self.path, json.dumps(everything, indent=1, sort_keys=True), what="the layout cache")
        except ProxynasError as err:
            log.debug("cannot store layout decisions in %s: %s", self.path, err)
            self.path = None
