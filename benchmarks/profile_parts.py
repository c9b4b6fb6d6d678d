"""Pieces of ``profile_cpu.py``: one candidate's training step timed part by part, the torch.profiler
breakdown by kind of op, threads, the optimizer's variants and single layers in both layouts."""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.profiler import ProfilerActivity, profile

from proxynas.engine import seeded
from search_spaces import get_space

# The kind of each op, by a piece of its name (first match wins); self CPU time is summed per kind.
KINDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("conv_backward", ("convolution_backward",)),
    ("conv_forward", ("mkldnn_convolution", "slow_conv2d", "thnn_conv")),
    ("norm_backward", ("norm_backward",)),
    ("norm_forward", ("batch_norm", "layer_norm", "group_norm")),
    ("activation_backward", ("threshold_backward", "leaky_relu_backward", "sigmoid_backward")),
    ("activation_forward", ("relu", "leaky_relu", "sigmoid", "clamp_min")),
    ("pool_backward", ("pool2d_backward", "pool2d_with_indices_backward")),
    ("pool_forward", ("pool2d",)),
    ("linear", ("aten::mm", "aten::addmm", "aten::bmm", "aten::einsum")),
    ("loss", ("log_softmax", "nll_loss")),
    ("layout_copy", ("aten::copy_", "aten::clone", "aten::contiguous")),
    ("indexing", ("aten::index", "aten::gather", "aten::take")),
)


def kind_of(name: str) -> str:
    for kind, pieces in KINDS:
        if any(p in name for p in pieces):
            return kind
    return "other"


def build(candidate_id: str, channels_last: bool, seed: int = 0) -> nn.Module:
    space = get_space("dc_convnet")
    model = seeded(lambda: space.build(space.parse(candidate_id), (3, 32, 32), 10), seed)
    return model.to(memory_format=torch.channels_last) if channels_last else model


def sgd(model: nn.Module, variant: str = "for-loop") -> torch.optim.SGD:
    """The protocol's SGD; ``variant``: for-loop (torch's CPU default), foreach or fused."""
    kw = {"for-loop": {"foreach": False}, "foreach": {"foreach": True}, "fused": {"fused": True}}[variant]
    return torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4, **kw)


class StepTimer:
    """One candidate in one layout: a training step timed part by part on a fixed data set."""

    def __init__(self, candidate_id: str, channels_last: bool, images: Tensor, labels: Tensor,
                 batch: int) -> None:
        self.model, self.channels_last = build(candidate_id, channels_last), channels_last
        self.optimizer = sgd(self.model)
        self.images, self.labels, self.batch = images, labels, batch
        self.generator = torch.Generator().manual_seed(0)

    def step(self) -> dict[str, float]:
        """Seconds of: data (gather a batch), forward (with the loss), backward, optimizer; and the
        step's CPU seconds on this thread (user + system: robust to other processes' load)."""
        r0 = resource.getrusage(resource.RUSAGE_THREAD)
        t0 = time.perf_counter()
        index = torch.randperm(len(self.images), generator=self.generator)[:self.batch]
        x, y = self.images[index], self.labels[index]
        t1 = time.perf_counter()
        loss = F.cross_entropy(self.model(x), y)
        t2 = time.perf_counter()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        t3 = time.perf_counter()
        self.optimizer.step()
        t4 = time.perf_counter()
        r1 = resource.getrusage(resource.RUSAGE_THREAD)
        return {"data": t1 - t0, "forward": t2 - t1, "backward": t3 - t2, "optimizer": t4 - t3, "step": t4 - t0,
                "cpu_user": r1.ru_utime - r0.ru_utime, "cpu_system": r1.ru_stime - r0.ru_stime,
                "page_faults": r1.ru_minflt - r0.ru_minflt}

    @torch.no_grad()
    def evaluate(self, images: Tensor, batch: int) -> float:
        """Seconds to classify ``images`` in chunks of ``batch`` (eval mode)."""
        self.model.eval()
        start = time.perf_counter()
        for s in range(0, len(images), batch):
            self.model(images[s:s + batch]).argmax(-1)
        self.model.train()
        return time.perf_counter() - start

    def kinds(self) -> tuple[dict[str, float], float]:
        """Self CPU seconds per kind of op in one profiled forward + backward, and its wall seconds."""
        x, y = self.images[:self.batch], self.labels[:self.batch]
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            start = time.perf_counter()
            loss = F.cross_entropy(self.model(x), y)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            wall = time.perf_counter() - start
        out: dict[str, float] = {}
        for event in prof.key_averages():
            kind = kind_of(event.key)
            out[kind] = out.get(kind, 0.0) + event.self_cpu_time_total / 1e6
        return dict(sorted(out.items(), key=lambda kv: -kv[1])), wall


def median_parts(samples: list[dict[str, float]]) -> dict[str, float]:
    return {k: statistics.median(s[k] for s in samples) for k in samples[0]}


def run_steps(timer_of: Callable[[], StepTimer], steps: int) -> float:
    timer = timer_of()
    timer.step()  # warm-up: oneDNN primitives are created on the first call of each shape
    start = time.perf_counter()
    for _ in range(steps):
        timer.step()
    return time.perf_counter() - start


def thread_layouts(candidate_id: str, images: Tensor, labels: Tensor, batch: int, steps: int,
                   channels_last: bool) -> dict[str, float]:
    """Steps per second of: one model on 1 thread, one model on 2 threads, two models side by side in
    two Python threads of 1 intra-op thread each (the engine's CPU default)."""
    threads = torch.get_num_threads()
    make = lambda: StepTimer(candidate_id, channels_last, images, labels, batch)  # noqa: E731
    out = {}
    try:
        for n in (1, 2):
            torch.set_num_threads(n)
            out[f"one_model_{n}_threads"] = steps / run_steps(make, steps)
        torch.set_num_threads(1)  # threads started from now on take this setting
        timers = [make(), make()]
        for t in timers:
            t.step()
        start = time.perf_counter()
        workers = [threading.Thread(target=lambda t=t: [t.step() for _ in range(steps)]) for t in timers]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        out["two_models_2x1_threads"] = 2 * steps / (time.perf_counter() - start)
    finally:
        torch.set_num_threads(threads)
    return out


def optimizer_variants(candidate_id: str, steps: int) -> dict[str, dict[str, float]]:
    """Seconds per ``step()`` of SGD for-loop / foreach / fused on this candidate's parameters, and the
    largest difference of the parameters from the for-loop's after ``steps`` steps on the same grads."""
    results: dict[str, dict[str, float]] = {}
    reference: list[Tensor] | None = None
    grads_gen = torch.Generator().manual_seed(1)
    model0 = build(candidate_id, False)
    grads = [[torch.randn(p.shape, generator=grads_gen) for p in model0.parameters()] for _ in range(4)]
    for variant in ("for-loop", "foreach", "fused"):
        model = build(candidate_id, False)
        opt = sgd(model, variant)
        seconds = []
        for i in range(steps):
            for p, g in zip(model.parameters(), grads[i % 4], strict=True):
                p.grad = g.clone()
            start = time.perf_counter()
            opt.step()
            seconds.append(time.perf_counter() - start)
        params = [p.detach().clone() for p in model.parameters()]
        reference = reference or params
        diff = max(float((a - b).abs().max()) for a, b in zip(params, reference, strict=True))
        results[variant] = {"seconds_per_step": statistics.median(seconds[1:]), "max_abs_diff_vs_for_loop": diff}
    return results


LAYERS: dict[str, Callable[[int, int], nn.Module]] = {
    "conv3x3": lambda c, hw: nn.Conv2d(c, c, 3, padding=1),
    "batchnorm": lambda c, hw: nn.BatchNorm2d(c),
    "layernorm": lambda c, hw: nn.LayerNorm([c, hw, hw]),
    "instancenorm": lambda c, hw: nn.GroupNorm(c, c),
    "groupnorm": lambda c, hw: nn.GroupNorm(4, c),
    "relu": lambda c, hw: nn.ReLU(),
    "leakyrelu": lambda c, hw: nn.LeakyReLU(0.01),
    "sigmoid": lambda c, hw: nn.Sigmoid(),
    "maxpool": lambda c, hw: nn.MaxPool2d(2, 2),
    "avgpool": lambda c, hw: nn.AvgPool2d(2, 2),
}


def layer_times(batch: int, channels: int, size: int, repeat: int) -> dict[str, dict[str, float]]:
    """Forward + backward seconds of each layer alone at (batch, channels, size, size), contiguous and
    channels_last, interleaved; the conv's FLOP rate besides."""
    out: dict[str, dict[str, float]] = {}
    x0 = torch.randn(batch, channels, size, size)
    for name, make in LAYERS.items():
        times: dict[str, list[float]] = {"contiguous": [], "channels_last": []}
        layer = make(channels, size)
        for _ in range(repeat + 1):
            for layout, fmt in (("contiguous", torch.contiguous_format), ("channels_last", torch.channels_last)):
                m = layer.to(memory_format=fmt)
                x = x0.contiguous(memory_format=fmt).requires_grad_(True)
                start = time.perf_counter()
                y = m(x)
                y.backward(torch.ones_like(y))
                times[layout].append(time.perf_counter() - start)
        row = {k: statistics.median(v[1:]) for k, v in times.items()}
        row["channels_last_speedup"] = row["contiguous"] / row["channels_last"]
        if name == "conv3x3":
            flops = 3 * 2 * batch * channels * channels * 9 * size * size  # forward, grad input, grad weight
            row["gflop_per_s_contiguous"] = flops / row["contiguous"] / 1e9
            row["gflop_per_s_channels_last"] = flops / row["channels_last"] / 1e9
        out[name] = row
    return out


def allocator_child(candidate_id: str, keep: bool, steps: int) -> dict[str, float]:
    """In a fresh process: median step wall / user / system seconds and page faults, with glibc's
    default allocation or with freed memory kept (``proxynas.engine.cpu_memory``)."""
    if keep:
        from proxynas.engine.cpu_memory import keep_freed_memory

        keep_freed_memory()
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(0)
    timer = StepTimer(candidate_id, False, torch.randn(500, 3, 32, 32, generator=g),
                      torch.randint(0, 10, (500,), generator=g), 256)
    timer.step()
    return median_parts([timer.step() for _ in range(steps)])


def allocator_compare(candidate_id: str, steps: int, rounds: int) -> dict[str, list[dict[str, float]]]:
    """``allocator_child`` in fresh processes, default and kept alternating, ``rounds`` times each."""
    out: dict[str, list[dict[str, float]]] = {"glibc_default": [], "freed_memory_kept": []}
    for _ in range(rounds):
        for name, keep in (("glibc_default", False), ("freed_memory_kept", True)):
            proc = subprocess.run([sys.executable, __file__, "allocator", candidate_id, str(int(keep)), str(steps)],
                                  capture_output=True, text=True, check=True, env=child_env())
            out[name].append(json.loads(proc.stdout.strip().splitlines()[-1]))
    return out


def child_env() -> dict[str, str]:
    """This process's environment with the repository first on the path (a worktree's code, not an install)."""
    root = str(Path(__file__).resolve().parents[1])
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}


if __name__ == "__main__" and sys.argv[1:2] == ["allocator"]:
    print(json.dumps(allocator_child(sys.argv[2], sys.argv[3] == "1", int(sys.argv[4]))))
