"""MTT/FTD experts through the engine against one at a time, the same work in the same run.

The work: ``--experts`` experts of ``--net`` (default: the references' ConvNet) trained ``--epochs``
epochs on the full digits training split as ``proxynas experts`` trains them (SGD lr 0.01, batch 256,
DSA; ``--optimizer gsam`` for FTD's), every epoch's parameters written as safetensors. Arms:
  one_at_a_time:  the trainer before #21 item 1: one network after another outside the engine
                  (``condensed.experts.expert_epoch``, torch's threads), each epoch's parameters saved;
  engine_serial:  the engine, one expert per stack, one stack after another (``serial``, torch's threads);
  engine_stacked: the engine, all experts in one stack (``serial``, ``--stack N``, torch's threads);
  engine_local:   the engine's CPU defaults (``local``, two workers: one expert per stack, two stacks
                  side by side on one thread each).
The arms alternate ``--repeat`` times (a shared machine's load hits all alike); each writes into a fresh
folder. Wall and process CPU seconds per run; each arm's files are digested (the engine arms at equal
threads write equal bytes; ``engine_local`` trains on one thread per stack, so its rounding may differ).
The CPU layout is pinned to ``contiguous`` (``PROXYNAS_CPU_LAYOUT``), so that no arm measures layouts.

    python benchmarks/bench_experts.py --experts 4 --epochs 3 --repeat 2 [--threads 1]

With ``--threads 1`` every arm trains on one thread (``engine_local``'s two workers one each): what is
left is stacking and side-by-side workers, not OpenMP's two threads waiting on each other.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from benchlib import environment, save, table
from safetensors.torch import save_file

from condensed.experts import ExpertSettings, batch_dsa, expert_epoch, open_set, train_experts
from condensed.synthetic import DEFAULT_NET, network_builder
from proxynas.augment import dsa_for
from proxynas.datasets import dataset_info, load_dataset
from proxynas.engine.executors import ExecutorOptions
from proxynas.engine.stack import seeded

INFO = dataset_info("digits")


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--net", default=DEFAULT_NET)
    p.add_argument("--experts", type=int, default=4)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--optimizer", choices=("sgd", "gsam"), default="sgd")
    p.add_argument("--repeat", type=int, default=2)
    p.add_argument("--threads", type=int, help="torch's intra-op threads for every arm (default: torch's own)")
    p.add_argument("--name", default="experts_cpu", help="result file benchmarks/results/NAME.json")
    return p.parse_args()


def one_at_a_time(root: Path, settings: ExpertSettings, train: Any, seeds: list[int], epochs: int) -> None:
    _, build = network_builder(settings.net, train)
    augment = batch_dsa(dsa_for(INFO))
    for seed in seeds:
        net = seeded(build, seed)
        sgd = torch.optim.SGD(net.parameters(), lr=settings.lr, momentum=settings.momentum)
        generator = torch.Generator().manual_seed(seed)
        for epoch in range(epochs + 1):
            if epoch:
                expert_epoch(net, sgd, train, settings, augment, generator)
            path = root / f"seed{seed}" / f"epoch{epoch:03d}.safetensors"
            path.parent.mkdir(parents=True, exist_ok=True)
            save_file({f"param.{n}": p.detach().contiguous() for n, p in net.named_parameters()}, str(path))


def engine(options: ExecutorOptions, stack: int | None) -> Callable[..., None]:
    def run(root: Path, settings: ExpertSettings, train: Any, seeds: list[int], epochs: int) -> None:
        experts = open_set(root, "digits", train, settings, create=True)
        train_experts(experts, train, INFO, settings, seeds, epochs, executor=options, stack=stack)
    return run


def digest(root: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(root.rglob("epoch*.safetensors")):
        h.update(path.name.encode() + path.read_bytes())
    return h.hexdigest()[:16]


def main() -> None:
    args = parse_args()
    os.environ["PROXYNAS_CPU_LAYOUT"] = "contiguous"
    if args.threads:
        torch.set_num_threads(args.threads)
    settings = ExpertSettings(net=args.net, optimizer=args.optimizer)
    train = load_dataset("digits").train
    seeds = list(range(args.experts))
    arms = {"one_at_a_time": one_at_a_time,
            "engine_serial": engine(ExecutorOptions(name="serial"), 1),
            "engine_stacked": engine(ExecutorOptions(name="serial"), args.experts),
            "engine_local": engine(ExecutorOptions(name="local", workers=2), 1)}
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in arms}
    digests: dict[str, set[str]] = {name: set() for name in arms}
    order = list(arms)
    for r in range(args.repeat):
        for name in order if r % 2 == 0 else order[::-1]:
            with tempfile.TemporaryDirectory(prefix="bench-experts-") as tmp:
                cpu, start = time.process_time(), time.perf_counter()
                arms[name](Path(tmp), settings, train, seeds, args.epochs)
                wall, cpu = time.perf_counter() - start, time.process_time() - cpu
                digests[name].add(digest(Path(tmp)))
            runs[name].append({"wall_s": round(wall, 2), "cpu_s": round(cpu, 2)})
            print(f"{name}: {wall:.1f} s wall, {cpu:.1f} s CPU", flush=True)
    base = statistics.median(run["wall_s"] for run in runs["one_at_a_time"])
    summary = {name: {"median_wall_s": statistics.median(x["wall_s"] for x in rs),
                      "speedup_vs_one_at_a_time": round(base / statistics.median(x["wall_s"] for x in rs), 3)}
               for name, rs in runs.items()}
    engine_files = set().union(*(digests[n] for n in ("engine_serial", "engine_stacked")))
    record = {"environment": environment(torch.device("cpu")), "net": args.net, "experts": args.experts,
              "epochs": args.epochs, "optimizer": args.optimizer, "images": len(train), "runs": runs,
              "summary": summary, "digests": {n: sorted(d) for n, d in digests.items()},
              "serial_and_stacked_write_identical_files": len(engine_files) == 1,
              "note": "shared 2-core CPU: only ratios of arms run side by side mean anything"}
    print(table([(n, f"{s['median_wall_s']:.1f} s, {s['speedup_vs_one_at_a_time']:.2f}x") for n, s in summary.items()]))
    print(f"serial and stacked files identical: {len(engine_files) == 1} -> {save(args.name, record)}")


if __name__ == "__main__":
    main()
