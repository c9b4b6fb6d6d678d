"""How much memory a stack needs to train, predicted before it is built, and stacks sized to a budget.

:func:`predict_peak` builds the stack and runs two training steps of it on *fake* tensors
(``FakeTensorMode``: shapes, dtypes and strides, no storage), exactly as ``engine.fit`` runs them: the
batch gathered from the data, the forward (under bf16 autocast when the accel asks), the fp32 loss, the
backward with the gradients of the previous step freed first (``zero_grad(set_to_none=True)``), and the
SGD step with momentum and weight decay (fused, foreach or per tensor, as the device would run it).
:class:`LiveBytes` counts every storage the traced operations create and frees it when its last tensor
dies, so the peak it records is the peak of the bytes live during training: parameters, buffers,
momentum, gradients, the batch, every activation autograd saves and every temporary. Two steps,
because the first has no momentum buffers yet and the second still holds the first's gradients
during its forward pass.

What the prediction covers and what it does not (the device's own bookkeeping):

- CPU: the bytes the tensors hold, as torch's allocator reports them to the profiler. Buffers a kernel
  library allocates outside torch's allocator (oneDNN scratch space) are not seen by either side. Which
  kernels run depends on the CPU: where oneDNN has no bf16 convolutions (a CPU, or ``ONEDNN_MAX_CPU_ISA``,
  below AVX-512), bf16 convolutions fall back to ATen's im2col kernel, whose column buffers come from
  torch's allocator; :func:`im2col_scratch` adds them (``StepShape.im2col_bf16``, this process's kernels
  unless given).
- CUDA: the caching allocator hands out multiples of 512 bytes (``granularity``); a block it does not
  split can be up to 1 MiB larger than asked, cuDNN's convolution workspaces come from the same
  allocator and depend on the algorithm picked, and reserved (cached, fragmented) memory exceeds the
  allocated bytes. None of that is traced: the budget is a fraction of free memory so that it has
  room, and ``make gpu-check`` compares the prediction with ``torch.cuda.max_memory_allocated``.
- bf16 autocast is traced with the CPU's autocast (fake CPU tensors; a CPU build of torch cannot make
  CUDA ones) plus CUDA's one difference that matters for these networks: group and layer norm run in
  fp32 (:class:`CudaNormsInFp32`). channels_last is traced (the same bytes, a transient copy while the
  weights convert). Not traced: torch.compile (fused kernels keep fewer activations: the prediction
  is then an upper bound), augmentations and CutMix (a few copies of the batch, small beside the
  activations).

Predictions are cached per stack (space, stack kind and members), batch, training-set size and precision
(:class:`MemoryModel`); :func:`sized_to_budget` splits planned stacks into the largest ones that fit
``fraction`` of the device's free memory shared by the worker threads. Out-of-memory halving
(``StackTrainer.train_splitting``) stays the fallback when a prediction is short.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch._subclasses.fake_tensor import FakeTensorMode
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from proxynas.engine.accel import Accel
from proxynas.engine.memory_kernels import im2col_bf16_convolutions, im2col_scratch
from proxynas.engine.stack import global_rng_lock
from proxynas.errors import ProxynasError

if TYPE_CHECKING:
    from proxynas.engine.builder import StackBuilder
    from proxynas.engine.executors import Executor
    from proxynas.engine.run import Job, TrainingTask

log = logging.getLogger(__name__)

CUDA_BLOCK = 512  # the CUDA caching allocator rounds every allocation up to a multiple of this
CUDA_DEFAULT_FRACTION = 0.8  # the default budget on CUDA: this fraction of the free memory
TRACED_STEPS = 2
@dataclass(frozen=True)
class StepShape:
    """What a stack's peak memory depends on besides its models."""

    batch: int  # images per model and step
    images: int  # the training set's size (each epoch's batch orders are (G, images) int64 on the device)
    input_shape: tuple[int, ...]  # (C, H, W)
    num_classes: int
    bf16: bool = False
    channels_last: bool = False
    fused_sgd: bool = False
    device_type: str = "cpu"  # "cuda": CUDA's allocator granularity, autocast norms and SGD kind
    im2col_bf16: bool = field(default_factory=im2col_bf16_convolutions)  # the CPU's bf16 convolution kernel

    @classmethod
    def of(cls, batch: int, images: int, input_shape: Sequence[int], num_classes: int, accel: Accel,
           device: torch.device) -> StepShape:
        return cls(min(batch, images), images, tuple(input_shape), num_classes, accel.bf16, accel.channels_last,
                   accel.fused_sgd, device.type)

    @property
    def granularity(self) -> int:
        return CUDA_BLOCK if self.device_type == "cuda" else 1

    @property
    def precision(self) -> str:
        return "bf16" if self.bf16 else "fp32"


class LiveBytes(TorchDispatchMode):
    """Counts the bytes of every storage created under it while the storage lives; keeps the peak.
    ``scratch(func, args, out)``: bytes an operation holds for itself while it runs, beyond its outputs."""

    def __init__(self, granularity: int = 1, scratch: Callable[[Any, Any, Any], int] | None = None) -> None:
        super().__init__()
        self.granularity, self.live, self.peak, self.scratch = granularity, 0, 0, scratch
        self.largest = 0  # the largest single storage seen (the scale of a kernel's own workspace)
        self._alive: dict[int, weakref.ref] = {}

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        out = func(*args, **(kwargs or {}))
        for tensor in tree_leaves(out):
            if isinstance(tensor, torch.Tensor):
                self._count(tensor.untyped_storage())
        if self.scratch is not None:
            self.peak = max(self.peak, self.live + self.scratch(func, args, out))
        return out

    def _count(self, storage: torch.UntypedStorage) -> None:
        key = id(storage)
        if key in self._alive:
            return
        size = -(-storage.nbytes() // self.granularity) * self.granularity
        self.live += size
        self.peak, self.largest = max(self.peak, self.live), max(self.largest, size)

        def freed(_: weakref.ref, size: int = size, key: int = key) -> None:
            self.live -= size
            self._alive.pop(key, None)

        self._alive[key] = weakref.ref(storage, freed)


class CudaNormsInFp32(TorchFunctionMode):
    """CUDA autocast's fp32 list, where it differs from the CPU's for these networks: group and layer
    norm take fp32 inputs (and give fp32 outputs) under bf16 autocast."""

    NORMS = (F.group_norm, F.layer_norm)

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        if func in self.NORMS:
            args = tuple(a.float() if isinstance(a, torch.Tensor) and a.is_floating_point() else a for a in args)
            kwargs = {k: v.float() if isinstance(v, torch.Tensor) and v.is_floating_point() else v
                      for k, v in kwargs.items()}
            with torch.autocast("cpu", enabled=False):
                return func(*args, **kwargs)
        return func(*args, **kwargs)


def traced_step(stack: torch.nn.Module, optimizer: torch.optim.Optimizer, step: StepShape, models: int,
                order: torch.Tensor, epoch_loss: torch.Tensor) -> None:
    """One training step as ``engine.fit`` runs it (without augmentation), on the stack's device."""
    index = order[:, :step.batch]
    x = torch.empty((models, step.batch, *step.input_shape))  # data.images[index]: a fresh gather
    y = torch.empty((models, step.batch), dtype=torch.long)
    autocast = torch.autocast("cpu", dtype=torch.bfloat16) if step.bf16 else contextlib.nullcontext()
    with autocast:
        logits = stack(x)
    losses = F.cross_entropy(logits.float().flatten(0, 1), y.flatten(), reduction="none")
    per_model = losses.view(models, -1).mean(1)
    optimizer.zero_grad(set_to_none=True)
    per_model.sum().backward()
    optimizer.step()
    epoch_loss += per_model.detach() * (index.shape[1] / step.images)


@dataclass(frozen=True)
class Prediction:
    peak: int  # bytes live at the peak of two training steps
    largest: int  # bytes of the largest single tensor storage they allocate


def predict_peak(space: StackBuilder, candidates: Sequence[Any], step: StepShape) -> int:
    """Peak bytes live while the stack of ``candidates`` trains (see the module), from a fake trace."""
    return predict(space, candidates, step).peak


def predict(space: StackBuilder, candidates: Sequence[Any], step: StepShape) -> Prediction:
    """The peak and the largest tensor of two traced training steps of the stack of ``candidates``."""
    im2col = step.bf16 and step.device_type == "cpu" and step.im2col_bf16
    live = LiveBytes(step.granularity, im2col_scratch if im2col else None)
    norms = CudaNormsInFp32() if step.bf16 and step.device_type == "cuda" else contextlib.nullcontext()
    models = len(candidates)
    with FakeTensorMode(), live, norms:
        with global_rng_lock:  # builders seed torch's global RNG (``seeded``)
            stack = space.build_stack(list(candidates), list(range(models)), step.input_shape, step.num_classes)
        if step.channels_last:
            stack = stack.to(memory_format=torch.channels_last)
        foreach = True if step.device_type == "cuda" and not step.fused_sgd else None  # CUDA's default kind
        optimizer = torch.optim.SGD(stack.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4,
                                    fused=True if step.fused_sgd else None, foreach=foreach)
        order = torch.empty((models, step.images), dtype=torch.long)
        epoch_loss = torch.zeros(models)
        stack.train()
        for _ in range(TRACED_STEPS):
            traced_step(stack, optimizer, step, models, order, epoch_loss)
    return Prediction(live.peak, live.largest)


class MemoryModel:
    """Predictions cached per stack (space, kind, members), step shape and precision; thread-safe."""

    def __init__(self) -> None:
        self._peaks: dict[tuple, int] = {}
        self._lock = threading.Lock()
        self.traces = 0  # predictions computed (not served from the cache)

    def peak(self, space: StackBuilder, jobs: Sequence[Job], step: StepShape) -> int:
        candidates = [job.candidate for job in jobs]
        kind = space.stack_key(candidates[0])
        key = (getattr(space, "name", type(space).__name__), kind, tuple(sorted(c.id for c in candidates)), step)
        with self._lock:
            if key in self._peaks:
                return self._peaks[key]
        peak = predict_peak(space, candidates, step)
        with self._lock:
            self._peaks[key] = peak
            self.traces += 1
        return peak

    def split(self, stacks: Sequence[list[Job]], space: StackBuilder, step: StepShape, budget: int) -> list[list[Job]]:
        """Each planned stack as consecutive parts, each the longest that fits ``budget`` bytes (order kept).
        A model that alone needs more trains alone (its out-of-memory error, if it comes, is the fallback)."""
        out = []
        for stack in stacks:
            rest = list(stack)
            while rest:
                size = self.longest_fitting(rest, lambda jobs: self.peak(space, jobs, step) <= budget)
                if size == 1 and self.peak(space, rest[:1], step) > budget:
                    log.warning("%s alone is predicted to need %s, over the memory budget of %s",
                                rest[0].candidate.id, gib(self.peak(space, rest[:1], step)), gib(budget))
                out.append(rest[:size])
                rest = rest[size:]
        return out

    @staticmethod
    def longest_fitting(jobs: list[Job], fits: Callable[[list[Job]], bool]) -> int:
        """The largest k >= 1 with ``fits(jobs[:k])`` (a binary search: peaks grow with the models)."""
        if fits(jobs):
            return len(jobs)
        low, high = 1, len(jobs) - 1  # jobs[:low] is taken even when it does not fit
        while low < high:
            middle = (low + high + 1) // 2
            if fits(jobs[:middle]):
                low = middle
            else:
                high = middle - 1
        return low


def gib(size: float) -> str:
    return f"{size / 2**30:.2f} GiB"


def free_bytes(device: torch.device) -> int:
    """Free memory of ``device``: CUDA's free memory, or the host's available memory for the CPU."""
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    with contextlib.suppress(OSError, ValueError), open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def check_fraction(fraction: float) -> float:
    if not 0 < fraction <= 1:
        raise ProxynasError(f"--memory-budget must be a fraction of free memory in (0, 1], got {fraction}",
                            "pass e.g. --memory-budget 0.8")
    return fraction


def budget_fraction(fraction: float | None, device: torch.device) -> float | None:
    """The budget to plan with: the one asked for, else CUDA's default; None (count only) on the CPU."""
    if fraction is not None:
        return check_fraction(fraction)
    return CUDA_DEFAULT_FRACTION if device.type == "cuda" else None


def sized_to_budget(stacks: Sequence[list[Job]], space: StackBuilder, step: StepShape, budget: int,
                    model: MemoryModel | None = None) -> list[list[Job]]:
    """``stacks`` split to fit ``budget`` bytes each; unsized (with a warning) when a space cannot be traced."""
    model = MemoryModel() if model is None else model
    try:
        sized = model.split(stacks, space, step, budget)
    except Exception as err:  # a space whose stacks cannot run on fake tensors: count sizing, said once
        log.warning("cannot predict the memory of %s stacks (%s: %s); stacks are sized by count",
                    getattr(space, "name", "these"), type(err).__name__, err)
        return list(stacks)
    if len(sized) != len(stacks):
        log.info("memory budget %s per stack: %d planned stacks became %d", gib(budget), len(stacks), len(sized))
    return sized


def sized_by_memory(stacks: list[list[Job]], task: TrainingTask, executor: Executor,
                    accel: Accel | None = None) -> list[list[Job]]:
    """The planned stacks of ``task`` sized to the executor's memory budget (:func:`budget_fraction` of
    the free memory of the device it trains on, less the data still to be placed there, shared by the
    stacks that train at once); as planned when there is no budget."""
    device = executor.target_device(task.device)
    fraction = budget_fraction(executor.memory_budget, device)
    if fraction is None:
        return stacks
    if device.type == "cuda" and not torch.cuda.is_available():
        log.warning("the memory budget is taken on the device that plans; this process sees no GPU, so "
                    "stacks are sized by count")
        return stacks
    accel = accel or task.accel or Accel.for_device(device)
    workers_for = getattr(executor, "workers_for", None)
    workers = workers_for(task) if workers_for is not None else 1
    to_place = 0 if task.device == device else sum(
        t.images.nbytes + t.labels.nbytes for t in {id(d): d for d in (task.train, task.val, task.test)}.values())
    budget = int(fraction * max(0, free_bytes(device) - to_place)) // max(1, workers)
    step = StepShape.of(task.protocol.batch_size, len(task.train), task.train.shape, task.train.num_classes,
                        accel, device)
    return sized_to_budget(stacks, task.space, step, budget)
