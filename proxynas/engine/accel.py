"""Speed settings of the engine: what it turns on per device, none of which changes what a model learns
beyond float rounding (bf16 autocast rounds more, as mixed-precision training always does).

``Accel.for_device`` picks the defaults: on CUDA bf16 autocast, channels_last tensors and fused SGD;
on the CPU fp32 and each model's layout chosen by measurement (``choose_layout``, ``engine.layout``:
neither layout is faster for every candidate there), or the one ``$PROXYNAS_CPU_LAYOUT`` names.
Every switch also works on the CPU, so the tests run each of them there. Where the rules differ:

- autocast: CUDA runs group norm and layer norm in fp32 under bf16 autocast (its fp32 op list); CPU
  autocast leaves them in bf16 when their input is bf16. Convolutions and matmuls are bf16 on both;
  the losses are always computed in fp32 (``fit`` casts the logits).
- fused SGD: one kernel per step on CUDA; on the CPU torch's fused SGD is a vectorised loop, the same
  arithmetic.
- torch.compile is opt-in everywhere (``compile`` is its mode; "reduce-overhead" replays CUDA graphs).
  Each stack shape, model count and batch size is a graph of its own, so :meth:`Accel.compiling` lifts
  dynamo's recompile limit for a run and makes hitting it an error: the engine then says once that it
  fell back to eager and why (``engine.run``), instead of running eager silently. Compiled stacks train
  one at a time, as compiling is not thread-safe.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

import torch
from torch import nn

from proxynas.engine.layout import CHANNELS_LAST, MEASURE, cpu_layout_setting

# Graphs one run may compile per code object: every (depth, width, pooling) stack of dc_convnet at
# full and last batch, for several model counts, fits under it.
COMPILE_VARIANTS = 1024

CompileBackend = str | Callable[..., Callable[..., object]]


@dataclass(frozen=True)
class Accel:
    bf16: bool = False  # autocast the forward pass to bfloat16 (losses stay fp32)
    channels_last: bool = False  # NHWC weights, hence NHWC convolutions and activations
    fused_sgd: bool = False  # one fused kernel for the optimizer step
    compile: str | None = None  # a torch.compile mode ("default", "reduce-overhead", "max-autotune")
    compile_backend: CompileBackend = "inductor"  # the tests count graphs with a backend of their own
    choose_layout: bool = False  # CPU: each model of a ListStack in the layout measured faster for its kind

    @classmethod
    def for_device(cls, device: torch.device) -> Accel:
        if device.type == "cuda":
            return cls(bf16=True, channels_last=True, fused_sgd=True)
        layout = cpu_layout_setting()
        return cls(choose_layout=layout == MEASURE, channels_last=layout == CHANNELS_LAST)

    def prepare(self, stack: nn.Module) -> nn.Module:
        """The stack to train: in place in channels_last, wrapped by torch.compile when asked."""
        if self.channels_last:
            stack = stack.to(memory_format=torch.channels_last)
        if self.compile:
            mode = self.compile if self.compile_backend == "inductor" else None
            stack = torch.compile(stack, mode=mode, backend=self.compile_backend, dynamic=False,  # type: ignore[assignment]
                                  fullgraph=True)
        return stack

    def eager(self) -> Accel:
        """The same settings without torch.compile."""
        return replace(self, compile=None)

    @contextlib.contextmanager
    def compiling(self) -> Iterator[None]:
        """Around a run: room for every graph it compiles, and an error rather than a silent eager run."""
        if not self.compile:
            yield
            return
        with torch._dynamo.config.patch(recompile_limit=COMPILE_VARIANTS,
                                        accumulated_recompile_limit=COMPILE_VARIANTS,
                                        fail_on_recompile_limit_hit=True):
            yield

    def autocast(self, device: torch.device) -> contextlib.AbstractContextManager:
        """bf16 autocast on ``device`` when enabled, otherwise a context that does nothing."""
        if not self.bf16:
            return contextlib.nullcontext()
        return torch.autocast(device.type, dtype=torch.bfloat16)

    def optimizer(self, stack: nn.Module, lr: float, momentum: float, weight_decay: float) -> torch.optim.SGD:
        return torch.optim.SGD(stack.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay,
                               fused=True if self.fused_sgd else None)


def regime_of(accel: Accel | None, device: torch.device) -> str:
    """The numeric regime a stack trains in with ``accel`` (None: the device's defaults) on ``device``,
    read from torch's settings in this process: 'bf16' under bf16 autocast; 'tf32' when fp32 matmuls or
    convolutions may run in TF32 (a float32 matmul precision other than 'highest'; on CUDA also
    ``torch.backends.cuda.matmul.allow_tf32`` or ``torch.backends.cudnn.allow_tf32``, on by default);
    'fp32' otherwise. It is part of what identifies a result row (``proxynas.store``)."""
    accel = Accel.for_device(device) if accel is None else accel
    if accel.bf16:
        return "bf16"
    if torch.get_float32_matmul_precision() != "highest":
        return "tf32"
    if device.type == "cuda" and (torch.backends.cuda.matmul.allow_tf32 or torch.backends.cudnn.allow_tf32):
        return "tf32"
    return "fp32"


def compile_failures() -> tuple[type[BaseException], ...]:
    """What torch.compile raises when it cannot compile a stack (or would run it eager)."""
    from torch._dynamo import exc

    return exc.TorchDynamoException, exc.FailOnRecompileLimitHit
