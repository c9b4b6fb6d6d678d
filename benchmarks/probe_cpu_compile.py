"""Does ``torch.compile`` (inductor) pay on the CPU for the candidates the profile calls memory-bound?

For each candidate: one training step (SGD, batch 256, 3x32x32, one thread, freed memory kept) in
eager mode and compiled, in the layout the engine would train it in; the first compiled step's wall
time (the compile) and the CPU seconds per step after two warm-up steps. Issue #14 names compile as a
way to fuse the norms, activations and pooling that take half of a pooled candidate's step.

    PYTHONPATH=$PWD python benchmarks/probe_cpu_compile.py --name cpu_compile_probe
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import torch
import torch.nn.functional as F
from benchlib import environment, save
from machine import cpu_description, git_commit, load_average

from proxynas.engine.cpu_memory import keep_freed_memory
from search_spaces import get_space

CANDIDATES = ("d3_w64_relu_batchnorm_maxpool", "d2_w64_relu_layernorm_avgpool", "d3_w32_relu_groupnorm_none")


def step_seconds(candidate_id: str, compiled: bool, channels_last: bool, steps: int) -> dict[str, float]:
    space = get_space("dc_convnet")
    torch.manual_seed(0)
    model = space.build(space.parse(candidate_id), (3, 32, 32), 10)
    x, y = torch.randn(256, 3, 32, 32), torch.randint(0, 10, (256,))
    if channels_last:
        model, x = model.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    forward = torch.compile(model) if compiled else model

    def step() -> None:
        optimizer.zero_grad()
        F.cross_entropy(forward(x), y).backward()
        optimizer.step()

    start = time.perf_counter()
    step()
    first = time.perf_counter() - start
    step()
    start = time.thread_time()
    for _ in range(steps):
        step()
    return {"first_step_wall_s": first, "cpu_s_per_step": (time.thread_time() - start) / steps}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--candidates", nargs="+", default=list(CANDIDATES))
    p.add_argument("--steps", type=int, default=4)
    p.add_argument("--name", default="cpu_compile_probe")
    args = p.parse_args()
    torch.set_num_threads(1)
    keep_freed_memory()
    record: dict[str, Any] = {**environment(torch.device("cpu")), "cpu_model": cpu_description(),
                              "git": git_commit(), "load_average_start": load_average(), "rows": []}
    for cid in args.candidates:
        for channels_last in (False, True):
            eager = step_seconds(cid, False, channels_last, args.steps)
            compiled = step_seconds(cid, True, channels_last, args.steps)
            row = {"candidate": cid, "layout": "channels_last" if channels_last else "contiguous",
                   "eager": eager, "compiled": compiled,
                   "compiled_speedup_per_step": eager["cpu_s_per_step"] / compiled["cpu_s_per_step"]}
            record["rows"].append(row)
            print(f"{cid:32s} {row['layout']:13s} eager {eager['cpu_s_per_step']:.3f} CPU-s/step, compiled "
                  f"{compiled['cpu_s_per_step']:.3f} ({row['compiled_speedup_per_step']:.2f}x) after a "
                  f"{compiled['first_step_wall_s']:.1f} s first step", flush=True)
    record["load_average_end"] = load_average()
    print(f"saved {save(args.name, record)}")


if __name__ == "__main__":
    main()
