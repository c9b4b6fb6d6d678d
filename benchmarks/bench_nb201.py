"""NAS-Bench-201 cells per second: one grouped stack of many cells against the same cells one by one.

Both sides train the same sampled cells (different cells, one seed each) with ``engine.fit`` on the same
digits images for the same steps: ``stacked`` as one :class:`~search_spaces.nb201_stack.GroupedNB201Stack`,
``one_by_one`` each cell in a stack of its own (what the engine did before). The sides alternate, each
repeated, in one process, so a shared machine's load falls on both alike: read the ratio, not the
seconds. The losses of both sides are compared too (equal to float rounding). ``--cells`` repeated
measures several stack sizes in one run (one record, the load average before and after).

    python benchmarks/bench_nb201.py --cells 2 --cells 4 --cells 8 --cells 16 --images 256 --batch 64 --repeats 3
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import UTC, datetime
from typing import Any

import torch
from benchlib import environment, save, timed
from machine import cpu_description, git_commit, load_average

from proxynas.datasets import load_dataset
from proxynas.engine import Protocol, fit, resolve_device
from proxynas.engine.accel import Accel
from proxynas.spaces import SearchSpace
from search_spaces import get_space

SPACE = get_space("nb201")


def measure(device: torch.device, cells: int, images: int, batch: int, repeats: int,
            accel: Accel | None = None) -> dict[str, Any]:
    """Seconds and cells per second of both sides (medians over ``repeats``; on the CPU of the process's
    CPU time, elsewhere of wall time, the device drained), and their loss gap."""
    accel = Accel() if accel is None else accel
    digits = load_dataset("digits")
    data = digits.train.subset(torch.arange(images)).to(device)
    candidates = SPACE.sample(cells, seed=7)
    seeds = list(range(cells))
    protocol = Protocol(epochs=1, batch_size=batch)

    def stacked() -> torch.Tensor:
        stack = accel.prepare(SPACE.build_stack(candidates, seeds, data.shape, 10).to(device))
        return fit(stack, data, protocol, seeds, accel=accel).final_loss

    def one_by_one() -> torch.Tensor:
        losses = []
        for c, s in zip(candidates, seeds, strict=True):
            model = accel.prepare(SearchSpace.build_stack(SPACE, [c], [s], data.shape, 10).to(device))
            losses.append(fit(model, data, protocol, [s], accel=accel).final_loss)
        return torch.cat(losses)

    stacked()  # warm-up: first-call costs (allocator, kernel choice) outside the timings
    one_by_one()
    times: dict[str, list[float]] = {"stacked": [], "one_by_one": []}
    cpu: dict[str, list[float]] = {"stacked": [], "one_by_one": []}
    losses: dict[str, torch.Tensor] = {}
    for _ in range(repeats):
        for name, run in (("stacked", stacked), ("one_by_one", one_by_one)):
            start = time.process_time()
            seconds, losses[name] = timed(run, device)
            cpu[name].append(time.process_time() - start)
            times[name].append(seconds)
    # On the CPU the process's CPU time is the figure: a shared machine's load stretches the wall time of
    # either side by up to 2x between repeats (seen), hardly the CPU time a side needs (its own threads).
    clock = cpu if device.type == "cpu" else times
    median = {name: statistics.median(values) for name, values in clock.items()}
    steps = -(-images // batch)
    return {
        "cells": cells, "images": images, "batch": batch, "steps": steps, "repeats": repeats,
        "seconds": times, "cpu_seconds": cpu, "clock": "process CPU time" if clock is cpu else "wall",
        "median_seconds": median,
        "cells_per_second": {name: cells / value for name, value in median.items()},
        "speedup_stacked_over_one_by_one": median["one_by_one"] / median["stacked"],
        "max_loss_gap": float((losses["stacked"] - losses["one_by_one"]).abs().max()),
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--cells", type=int, action="append", help="cells per stack (repeatable; 16)")
    p.add_argument("--images", type=int, default=256)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--name", default="nb201_stack_cpu")
    args = p.parse_args()
    device = resolve_device(args.device)
    record = {"environment": environment(device) | {"cpu_detail": cpu_description(), "git": git_commit()},
              "load_average_start": load_average(), "sizes": []}
    for cells in args.cells or [16]:
        result = measure(device, cells, args.images, args.batch, args.repeats)
        record["sizes"].append(result)
        record["load_average_end"] = load_average()
        record["environment"]["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
        path = save(args.name, record)  # after each size: a run cut short keeps what it measured
        print(f"{result['cells']} cells, {result['steps']} steps each: stacked "
              f"{result['cells_per_second']['stacked']:.2f} cells/s, one by one "
              f"{result['cells_per_second']['one_by_one']:.2f} cells/s, "
              f"ratio {result['speedup_stacked_over_one_by_one']:.2f}x; max loss gap {result['max_loss_gap']:.2e} "
              f"-> {path}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
