"""What a stack checkpoint costs per epoch (``engine.checkpoint``), measured side by side.

For each workload one stack (the engine's own, from the space) trains ``--epochs`` epochs saving after
every epoch; the time spent saving (the state copied off the device, written through
``atomic_write`` with its fsync) is timed inside the same training, so its ratio to the epoch's own
time needs no second run (an epoch: from the end of one save to the start of the next, the first
epoch left out). As a cross-check the same stack also trains without checkpoints, the two alternated
``--repeat`` times: the medians of the whole stack's time (building and scoring included). Written to
``benchmarks/results/checkpoint_<device>.json``.

    python benchmarks/bench_checkpoint.py --epochs 4 --repeat 3
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from benchlib import environment, save, timed

from proxynas.datasets import load_dataset
from proxynas.engine import Accel, Job, Protocol, resolve_device
from proxynas.engine.checkpoint import Checkpoints, CheckpointSettings, StackCheckpoint
from proxynas.engine.run import TrainingTask
from search_spaces import get_space


@dataclass
class TimedStack(StackCheckpoint):
    saves: list[float] = field(default_factory=list)
    entered: list[float] = field(default_factory=list)

    def after_epoch(self, *args, **kwargs) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        start = time.perf_counter()
        self.entered.append(start)
        super().after_epoch(*args, **kwargs)
        self.saves.append(time.perf_counter() - start)

    def epochs(self) -> list[float]:
        """Each epoch's own seconds (from the end of the previous save), the first one left out."""
        return [self.entered[i] - self.entered[i - 1] - self.saves[i - 1] for i in range(1, len(self.entered))]


@dataclass(frozen=True)
class TimedCheckpoints(Checkpoints):
    made: list[TimedStack] = field(default_factory=list, compare=False, hash=False)

    def stack(self, jobs, device, accel, clock=None, inherited=None) -> StackCheckpoint:
        made = TimedStack(self, list(jobs), device, accel, clock, inherited)
        self.made.append(made)
        return made


def workloads(device: torch.device, fashion: bool) -> list[tuple[str, object]]:
    digits = load_dataset("digits")
    picked = torch.randperm(len(digits.train), generator=torch.Generator().manual_seed(0))[:500]
    out = [("digits ipc50 (500 images 8x8)", digits.train.subset(picked)), ("digits train (1294 images)",
                                                                           digits.train)]
    if fashion:
        data = load_dataset("fashion_mnist")
        picked = torch.randperm(len(data.train), generator=torch.Generator().manual_seed(0))[:500]
        out.append(("fashion_mnist ipc50 (500 images 28x28)", data.train.subset(picked)))
    return [(name, train.to(device)) for name, train in out]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--models", type=int, default=4, help="models in the stack")
    p.add_argument("--arch", default="d3_w128_{act}_instancenorm_avgpool")
    p.add_argument("--no-fashion", action="store_true")
    p.add_argument("--only", default="", metavar="TEXT", help="only the workloads whose name contains TEXT")
    p.add_argument("--name", default=None)
    args = p.parse_args()
    device = resolve_device(args.device)
    space = get_space("dc_convnet")
    acts = ["relu", "sigmoid", "leakyrelu", "relu"]
    jobs = [Job(space.parse(args.arch.format(act=acts[i % 4])), i) for i in range(args.models)]
    protocol = Protocol(epochs=args.epochs, batch_size=256)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        settings = CheckpointSettings(every_epochs=1, every_minutes=0, folder=folder)
        for name, train in workloads(device, not args.no_fashion):
            if args.only not in name:
                continue
            timed_ck = TimedCheckpoints(settings, space.name, name, protocol.key(), "fp32")
            on = TrainingTask(space, train, train, train, protocol, None, Accel.for_device(device), timed_ck)
            off = TrainingTask(space, train, train, train, protocol, None, Accel.for_device(device), None)
            with_ck, without = [], []
            kind = type(on.trainer().build(jobs)).__name__
            for _ in range(args.repeat):
                for path in Path(folder).iterdir():
                    path.unlink()
                seconds, _ = timed(lambda task=on: task.trainer().train_stack(jobs), device)
                with_ck.append(seconds)
                seconds, _ = timed(lambda task=off: task.trainer().train_stack(jobs), device)
                without.append(seconds)
            saves = [s for made in timed_ck.made for s in made.saves]
            size = sum(p.stat().st_size for p in Path(folder).iterdir())
            per_epoch = [s for made in timed_ck.made for s in made.epochs()]
            row = {"workload": name, "models": len(jobs), "stack": kind,
                   "checkpoint_bytes": size, "save_seconds_median": round(statistics.median(saves), 4),
                   "epoch_seconds_median": round(statistics.median(per_epoch), 4),
                   "save_per_epoch_ratio": round(statistics.median(saves) / statistics.median(per_epoch), 4),
                   "ab_with_median_s": round(statistics.median(with_ck), 3),
                   "ab_without_median_s": round(statistics.median(without), 3),
                   "ab_overhead_whole_stack_ratio": round((statistics.median(with_ck) - statistics.median(without))
                                                        / statistics.median(without), 4),
                   "with_s": [round(s, 3) for s in with_ck], "without_s": [round(s, 3) for s in without]}
            rows.append(row)
            print(row, flush=True)
    path = save(args.name or f"checkpoint_{device.type}",
                {"environment": environment(device), "epochs": args.epochs, "repeat": args.repeat,
                 "arch": args.arch, "rows": rows})
    print(f"written {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
