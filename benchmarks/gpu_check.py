"""``make gpu-check``: everything only a GPU can show, in one command (under 10 minutes on one H100/H200).

Every CUDA path of the engine, each as a check with a pass/fail and its figures:

- streams: two worker threads make exactly two CUDA streams, kept for the run (not one per stack);
- accel: bf16 autocast, channels_last, fused SGD and pinned, non-blocking copies (the CUDA defaults);
- invariant: alone == in a stack of 4 == side by side in 2 workers == split after an injected
  out-of-memory error, with and without DSA (fp32, to float rounding), and under the bf16 defaults;
- oom: a REAL out-of-memory split: an oversized stack under a per-process memory cap is halved until it
  fits, and its outcomes equal those of one model per stack (on the CPU twin the error is injected);
- compile: every stack of a run compiled (torch.compile, inductor), none eager, results as eager;
- cuda-vs-cpu: the same candidates on a real proxy (digits) on CUDA and on the CPU agree within seed noise;
- search: a short form of ``benchmarks/bench_search.py`` on the GPU;
- memory_model: the memory model's prediction against ``torch.cuda.max_memory_allocated`` for every stack
  kind of the demo's sample and nb201 stacks, fp32 and bf16 (the GPU form of ``memory_model.py``);
- nb201_stacked: nb201 cells per second, grouped stacks of 8, 32 and 128 cells against the same cells one by one
  (the GPU form of ``bench_nb201.py``).

Every run compared in fp32 runs with TF32 off (``exact_fp32``: cuDNN convolutions default to TF32, whose
10-bit mantissa would hide a real difference inside "float rounding"); a candidate that failed (non-finite
loss) has no figure, so its gap is reported as ``null`` and the check fails instead of crashing.

Results go to ``benchmarks/results/gpu_check_<device>.json`` after every check (device, versions,
command). Without a GPU it says so and exits 1; it never prints an estimate. ``--cpu-dry-run`` runs the
same checks on the CPU at a small size (the tests do, so the script's code is known to run), writes no
result file and is no GPU check.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
from benchlib import environment, save
from torch import nn

from proxynas.augment import make_augment
from proxynas.datasets import dataset_info, load_dataset
from proxynas.datasets.base import TensorSet
from proxynas.engine import Accel, Job, Protocol, run_jobs
from proxynas.engine.executors import LocalExecutor
from proxynas.spaces import PlainStacks
from search_spaces import get_space

SPACE = get_space("dc_convnet")
PLAIN = PlainStacks(SPACE)  # one module per model, candidates of one shape in one stack
SAME_SHAPE = ["d2_w64_relu_instancenorm_avgpool", "d2_w64_sigmoid_batchnorm_avgpool",
              "d2_w64_leakyrelu_none_avgpool", "d2_w64_relu_groupnorm_avgpool"]
FP32 = Accel()  # no autocast, default layout, foreach SGD: results comparable to float rounding


class FailsOnce(nn.Module):
    """Raises an out-of-memory error at its ``step``-th training forward pass."""

    def __init__(self, stack: nn.Module, step: int) -> None:
        super().__init__()
        self.stack, self.step, self.calls = stack, step, 0

    def forward(self, x):
        self.calls += self.training
        if self.training and self.calls == self.step:
            raise torch.OutOfMemoryError("injected by gpu_check")
        return self.stack(x)


def tf32_enabled() -> bool:
    """Whether CUDA matmuls or cuDNN convolutions may round fp32 inputs to TF32."""
    return bool(torch.backends.cuda.matmul.allow_tf32 or torch.backends.cudnn.allow_tf32)


@contextlib.contextmanager
def exact_fp32(on: bool = True) -> Iterator[None]:
    """TF32 off for CUDA matmuls and cuDNN convolutions inside (process-wide, so in worker threads too);
    the settings as they were afterwards. ``on=False``: change nothing (bf16 runs)."""
    if not on:
        yield
        return
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


class Recording:
    """A space whose stacks of more than ``inject_above`` models fail at step 3 (0: never); records the
    size of every stack built and whether TF32 was on when it was built."""

    def __init__(self, base, inject_above: int = 0) -> None:
        self.base, self.inject_above, self.name, self.sizes = base, inject_above, base.name, []
        self.tf32: list[bool] = []

    def stack_key(self, candidate):
        return self.base.stack_key(candidate)

    def build_stack(self, candidates, seeds, shape, classes):
        self.sizes.append(len(candidates))
        self.tf32.append(tf32_enabled())
        stack = self.base.build_stack(candidates, seeds, shape, classes)
        return FailsOnce(stack, 3) if self.inject_above and len(candidates) > self.inject_above else stack


def results(outcomes) -> dict[str, tuple[float | None, float | None]]:
    return {f"{o.job.candidate.id}#{o.job.seed}": (o.train_loss, o.val_acc) for o in outcomes}


def max_gap(a: dict, b: dict, index: int) -> float | None:
    """The largest difference of figure ``index`` (0: training loss, 1: val accuracy) between two runs;
    None when a candidate has no figure on either side (it failed, or is missing): no gap to report."""
    gaps = []
    for key in a.keys() | b.keys():
        x, y = (run.get(key, (None, None))[index] for run in (a, b))
        if x is None or y is None:
            return None
        gaps.append(abs(x - y))
    return max(gaps, default=None)


def within(gap: float | None, tolerance: float) -> bool:
    return gap is not None and gap < tolerance


def failed(*runs: dict) -> list[str]:
    """The candidates (``id#seed``) without a training loss in any of ``runs``."""
    return sorted({k for run in runs for k, (loss, _) in run.items() if loss is None})


def split_verdict(sizes: list[int], first: int, split: dict, alone: dict, alone_sizes: list[int]) -> dict:
    """The out-of-memory check: the first stack held every model and was split, and the split run's
    outcomes equal one model per stack (the run it is compared with) to float rounding."""
    loss_gap = max_gap(alone, split, 0)
    return {"ok": bool(sizes) and sizes[0] == first and len(sizes) > 1 and max(sizes[1:]) < first
            and set(alone_sizes) == {1} and within(loss_gap, 1e-3),
            "stack_sizes_tried": sizes, "compared_with_stack_sizes": sorted(set(alone_sizes)),
            "loss_gap": loss_gap, "acc_gap": max_gap(alone, split, 1), "failed": failed(split, alone)}


def with_tf32(verdict: dict, *spaces: Recording) -> dict:
    """``verdict`` with whether TF32 was on while any of ``spaces``' stacks were built (then not ok)."""
    tf32 = any(t for space in spaces for t in space.tf32)
    return verdict | {"ok": verdict["ok"] and not tf32, "tf32": tf32}


class Checker:
    def __init__(self, device: torch.device, small: bool) -> None:
        self.device, self.small = device, small
        digits = load_dataset("digits")
        self.train = digits.train.subset(torch.arange(256)).to(device)
        self.val, self.test = digits.val.to(device), digits.test.to(device)

    def train_jobs(self, ids, space, protocol: Protocol, **engine) -> dict:
        jobs = [Job(SPACE.parse(i), seed) for seed, i in enumerate(ids)]
        return self.train_on(jobs, space, self.train, self.val, self.test, protocol, **engine)

    def train_on(self, jobs, space, train, val, test, protocol: Protocol, **engine) -> dict:
        """Outcomes by ``id#seed``; an fp32 run (no bf16 autocast) with TF32 off."""
        accel = engine.get("accel") or Accel.for_device(train.device)
        augment = make_augment(protocol.augment, dataset_info("digits"))
        with exact_fp32(not accel.bf16):
            return results(run_jobs(jobs, space, train, val, test, protocol, augment=augment, **engine))

    def streams(self) -> dict[str, Any]:
        executor = LocalExecutor(2)
        ids = SPACE.sample(6, seed=1, width=[32])
        jobs = [Job(c, 0) for c in ids]
        list(run_jobs(jobs, SPACE, self.train, self.val, self.test, Protocol(epochs=1), executor=executor))
        made = executor.streams.made
        default = torch.cuda.default_stream(self.device) if self.device.type == "cuda" else None
        own = default is None or (len({id(s) for s in made}) == len(made) and all(s is not default for s in made))
        return {"ok": len(made) == 2 and own,  # the CPU has no streams: there only the count is checked
                "streams_made": len(made), "stacks": len(jobs)}

    def invariant(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for aug in ("none", "dsa"):
            protocol = Protocol(epochs=3, batch_size=64, augment=aug)
            splitting = Recording(PLAIN, inject_above=2)
            alone = self.train_jobs(SAME_SHAPE, PLAIN, protocol, max_models=1, workers=1, accel=FP32)
            runs = {"stack4": self.train_jobs(SAME_SHAPE, PLAIN, protocol, max_models=4, workers=1, accel=FP32),
                    "grouped4": self.train_jobs(SAME_SHAPE, SPACE, protocol, max_models=4, workers=1, accel=FP32),
                    "workers2": self.train_jobs(SAME_SHAPE, PLAIN, protocol, max_models=2, workers=2, accel=FP32),
                    "split": self.train_jobs(SAME_SHAPE, splitting, protocol, max_models=4, workers=1,
                                             accel=FP32)}
            for name, run in runs.items():
                out[f"{aug}/{name}/loss_gap"] = max_gap(alone, run, 0)
                out[f"{aug}/{name}/acc_gap"] = max_gap(alone, run, 1)
            out[f"{aug}/failed"] = failed(alone, *runs.values())
            out[f"{aug}/tf32"] = any(splitting.tf32)  # TF32 while the fp32 stacks were built (must be off)
        defaults = Accel.for_device(self.device)
        protocol = Protocol(epochs=3, batch_size=64, augment="dsa")
        alone = self.train_jobs(SAME_SHAPE, SPACE, protocol, max_models=1, accel=defaults)
        stacked = self.train_jobs(SAME_SHAPE, SPACE, protocol, max_models=4, accel=defaults)
        out["defaults/grouped4/loss_gap"] = max_gap(alone, stacked, 0)
        out["defaults/grouped4/acc_gap"] = max_gap(alone, stacked, 1)
        out["defaults/failed"] = failed(alone, stacked)
        fp32_ok = all(within(v, 1e-3) for k, v in out.items()
                      if k.endswith("loss_gap") and not k.startswith("defaults"))
        fp32_ok = fp32_ok and not out["none/tf32"] and not out["dsa/tf32"]
        out["ok"] = fp32_ok and within(out["defaults/grouped4/loss_gap"], 0.05)
        return out

    def oom(self) -> dict[str, Any]:
        """A stack of every model that runs out of memory, split until it fits, against one model per
        stack. On CUDA a real error under a memory cap; on the CPU twin an injected one (at step 3)."""
        if self.device.type != "cuda":
            jobs = [Job(SPACE.parse(i), seed) for seed, i in enumerate(SAME_SHAPE)]
            space, alone_space = Recording(SPACE, inject_above=1), Recording(SPACE)
            protocol = Protocol(epochs=2, batch_size=64)
            split = self.train_on(jobs, space, self.train, self.val, self.val, protocol, max_models=len(jobs),
                                  workers=1, accel=FP32)
            alone = self.train_on(jobs, alone_space, self.train, self.val, self.val, protocol, max_models=1,
                                  workers=1, accel=FP32)
            return with_tf32(split_verdict(space.sizes, len(jobs), split, alone, alone_space.sizes),
                             space, alone_space) | {"injected": True}
        cap_gib = 6.0
        total = torch.cuda.get_device_properties(self.device).total_memory
        g = torch.Generator().manual_seed(0)
        images, val = (TensorSet(torch.randn(n, 3, 32, 32, generator=g), torch.randint(0, 10, (n,), generator=g),
                                 10).to(self.device) for n in (512, 256))
        ids = [c.id for c in SPACE.candidates(depth=3, width=256, pool="none")][:8]
        jobs = [Job(SPACE.parse(i), 0) for i in ids]
        protocol = Protocol(epochs=1, batch_size=256)
        space, alone_space = Recording(SPACE), Recording(SPACE)
        torch.cuda.empty_cache()
        torch.cuda.set_per_process_memory_fraction(cap_gib * 2**30 / total, self.device)
        try:
            split = self.train_on(jobs, space, images, val, val, protocol, max_models=len(jobs), workers=1,
                                  accel=FP32)
            alone = self.train_on(jobs, alone_space, images, val, val, protocol, max_models=1, workers=1,
                                  accel=FP32)
        finally:
            torch.cuda.set_per_process_memory_fraction(1.0, self.device)
        return with_tf32(split_verdict(space.sizes, len(jobs), split, alone, alone_space.sizes),
                         space, alone_space) | {"cap_gib": cap_gib}

    def compile(self) -> dict[str, Any]:
        from torch._dynamo.utils import counters

        ids = ["d1_w32_relu_instancenorm_avgpool", "d1_w32_sigmoid_none_avgpool", "d2_w64_relu_none_maxpool"]
        protocol = Protocol(epochs=2, batch_size=96)  # 256 images: batches of 96, 96 and 64
        accel = Accel.for_device(self.device)
        compiled_accel = Accel(accel.bf16, accel.channels_last, accel.fused_sgd, compile="default",
                               compile_backend="eager" if self.small else "inductor")  # inductor on a GPU
        before = counters["stats"]["unique_graphs"]
        records: list[logging.LogRecord] = []
        handler = logging.Handler()
        handler.emit = records.append  # type: ignore[method-assign]
        logging.getLogger("proxynas").addHandler(handler)
        try:
            start = time.perf_counter()
            compiled = self.train_jobs(ids, SPACE, protocol, max_models=2, accel=compiled_accel)
            seconds = time.perf_counter() - start
        finally:
            logging.getLogger("proxynas").removeHandler(handler)
        eager = self.train_jobs(ids, SPACE, protocol, max_models=2, accel=accel)
        graphs = counters["stats"]["unique_graphs"] - before
        fell_back = [r.getMessage() for r in records if "torch.compile failed" in r.getMessage()]
        return {"ok": not fell_back and graphs >= 2 and within(max_gap(eager, compiled, 0), 0.05),
                "graphs": graphs, "fell_back": fell_back, "seconds": seconds,
                "loss_gap_vs_eager": max_gap(eager, compiled, 0)}

    def cuda_vs_cpu(self) -> dict[str, Any]:
        ids = [c.id for c in SPACE.sample(4 if self.small else 8, seed=2)]
        protocol = Protocol(epochs=5 if self.small else 20, batch_size=64)
        here = self.train_jobs(ids, SPACE, protocol, max_models=8)
        cpu = Checker(torch.device("cpu"), small=True).train_jobs(ids, SPACE, protocol, max_models=1)
        gap = max_gap(here, cpu, 1)
        return {"ok": within(gap, 0.1), "max_val_acc_gap": gap, "failed": failed(here, cpu), "candidates": len(ids),
                "epochs": protocol.epochs}


def memory_model_check(device: torch.device, small: bool) -> dict[str, Any]:
    """The memory model's predicted peak (``engine.memory``) against the measured one (on CUDA
    ``torch.cuda.max_memory_allocated``, on the CPU twin the profiler) for the grouped stack of every stack
    kind of the demo's sample (``benchmarks/memory_model.py``, the CPU record's GPU form) and nb201 stacks,
    in fp32 and under the device's bf16 defaults, at batch 256. It passes when no prediction falls short by
    more than its tolerance: one largest tensor plus 5% (on CUDA the allocator's unsplit blocks and cuDNN's
    workspaces come on top of what the CPU test allows); the CPU twin holds to the CPU tests' bound
    (``memory_measure.within_tolerance``: two largest tensors plus 1%). The dry run takes three kinds at
    batch 32."""
    from memory_model import demo_kinds

    from proxynas.engine.memory import predict
    from proxynas.engine.memory_measure import measured_peak, step_shape, within_tolerance

    data = load_dataset("digits").train.to(device)
    nb201 = get_space("nb201")
    kinds = [(SPACE, "dc_convnet/d{}_w{}_{}".format(*key), members) for key, members in demo_kinds(SPACE).items()]
    if small:
        kinds = sorted(kinds, key=lambda k: -len(k[2]))[:1] + kinds[:2]
    kinds += [(nb201, f"nb201/x{n}", nb201.sample(n, seed=3)) for n in ((2,) if small else (8, 32))]
    batch = 32 if small else 256
    precisions = {"fp32": FP32, "bf16": Accel.for_device(device) if device.type == "cuda" else Accel(bf16=True)}
    out: dict[str, Any] = {"batch": batch, "accel": {k: repr(v) for k, v in precisions.items()}, "stacks": {}}
    short = []
    for precision, accel in precisions.items():
        for space, name, candidates in kinds:
            predicted = predict(space, candidates, step_shape(data, batch, accel))
            measured = measured_peak(space, candidates, data, batch, accel)
            # the CPU twin checks what the CPU's memory tests check (within_tolerance, both ways); on CUDA
            # only a prediction that falls short fails
            ok = (within_tolerance(predicted, measured) if device.type == "cpu"
                  else measured <= predicted.peak + predicted.largest + 0.05 * measured)
            out["stacks"][f"{precision}/{name}"] = {"models": len(candidates), "predicted": predicted.peak,
                                                    "measured": measured, "largest": predicted.largest,
                                                    "ratio": round(predicted.peak / measured, 4), "ok": ok}
            if not ok:
                short.append(f"{precision}/{name}")
    out["short"] = short
    out["ok"] = not short
    return out


def nb201_stacked_check(device: torch.device, small: bool) -> dict[str, Any]:
    """NB201 cells per second, one grouped stack against one by one (``benchmarks/bench_nb201.py``), at
    the device's defaults, for several stack sizes; passes when every size's losses agree (bf16 rounding
    on CUDA) and the largest stack is faster than its cells one by one."""
    from bench_nb201 import measure

    accel = Accel.for_device(device)
    sizes, size = ((4,), {"images": 64, "batch": 32, "repeats": 1}) if small else \
        ((8, 32, 128), {"images": 1024, "batch": 256, "repeats": 3})
    results = [measure(device, cells, accel=accel, **size) for cells in sizes]
    fast = small or results[-1]["speedup_stacked_over_one_by_one"] > 1
    agree = all(r["max_loss_gap"] < (0.05 if accel.bf16 else 0.01) for r in results)
    return {"ok": bool(fast and agree), "accel": repr(accel),
            "cells_per_second": {r["cells"]: r["cells_per_second"] for r in results},
            "speedup_stacked_over_one_by_one": {r["cells"]: r["speedup_stacked_over_one_by_one"] for r in results},
            "sizes": results}


def search_benchmark(device: torch.device, small: bool) -> dict[str, Any]:
    name = f"search_gpu_check_{slug(device)}"
    size = ["--candidates", "3", "--widths", "32", "--images", "64", "--epochs", "1", "--reference-sample", "1",
            "--reference-epochs", "1"] if small else ["--candidates", "96", "--epochs", "20",
                                                      "--reference-sample", "8", "--reference-epochs", "3"]
    args = ["--device", device.type, *size, "--accuracy-candidates", "0", "--truth-candidates", "0", "--name", name]
    script = Path(__file__).with_name("bench_search.py")
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True, timeout=300)
    if small:  # a dry run of this script leaves no result behind
        (script.parent / "results" / f"{name}.json").unlink(missing_ok=True)
    return {"ok": proc.returncode == 0, "seconds": time.perf_counter() - start, "result_file": f"{name}.json",
            "output_tail": (proc.stdout + proc.stderr)[-3000:]}


def slug(device: torch.device) -> str:
    if device.type != "cuda":
        return "cpu"
    return re.sub(r"[^a-z0-9]+", "_", torch.cuda.get_device_name(device).lower()).strip("_")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cpu-dry-run", action="store_true",
                   help="run the checks on the CPU at a small size (a test of this script, no GPU check)")
    args = p.parse_args()
    if args.cpu_dry_run:
        device = torch.device("cpu")
    elif not torch.cuda.is_available():
        print("gpu-check: this torch sees no CUDA GPU, so there is nothing to check here "
              "(run it on a machine with an NVIDIA GPU and a CUDA build of torch)", file=sys.stderr)
        return 1
    else:
        device = torch.device("cuda")
    checker = Checker(device, small=args.cpu_dry_run)
    checks: dict[str, Callable[[], dict[str, Any]]] = {
        "streams": checker.streams, "invariant": checker.invariant, "oom": checker.oom,
        "compile": checker.compile, "cuda_vs_cpu": checker.cuda_vs_cpu,
        "search": lambda: search_benchmark(device, args.cpu_dry_run),
        "memory_model": lambda: memory_model_check(device, args.cpu_dry_run),
        "nb201_stacked": lambda: nb201_stacked_check(device, args.cpu_dry_run)}
    record: dict[str, Any] = {"environment": environment(device), "checks": {}}
    if device.type == "cuda":
        record["environment"]["cuda"] = torch.version.cuda
    for name, check in checks.items():
        start = time.perf_counter()
        try:
            result = check()
        except Exception as err:  # a check that crashes is a failed check; the others still run
            result = {"ok": False, "error": f"{type(err).__name__}: {err}"}
        result["seconds"] = round(time.perf_counter() - start, 1)
        record["checks"][name] = result
        print(f"{name:<12} {'ok' if result['ok'] else 'FAILED'}  ({result['seconds']} s)", flush=True)
        if not result["ok"]:
            print(f"  {result.get('error') or result.get('output_tail') or result}", flush=True)
        if not args.cpu_dry_run:
            save(f"gpu_check_{slug(device)}", record)
    failed = [n for n, r in record["checks"].items() if not r["ok"]]
    print("gpu-check: all checks passed" if not failed else f"gpu-check: FAILED: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
