"""The demo's workload on the CPU: one-at-a-time training against the engine's defaults.

Like ``proxynas demo``: dc_convnet candidates drawn with ``--sample-seed``, trained on a random
digits ipc-10 proxy (100 images) and on the full digits training split (the ground truth), scored on
the validation split. (1) one at a time: each candidate in a ``ListStack`` of its own, the engine's
loop, torch's default threads; (2) the engine as the CLI runs it: stacks of ``default_stack_size``
models (grouped when candidates share a shape), ``default_workers`` stacks at once. Runs alternate
(1, 2, 1, 2, ...) so that a shared machine's load hits both alike; the best and the median of
``--repeat`` runs are reported, with the largest difference in validation accuracy between the two
(same seeds, so it should be float noise).

    python benchmarks/bench_demo.py --epochs 5 --truth-epochs 1 --repeat 2
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from typing import Any

import torch
from benchlib import OneAtATime, environment, save, table, timed

from condensed import get_method
from condensed.base import Context
from proxynas.datasets import dataset_info, load_dataset
from proxynas.engine import Job, Protocol, default_stack_size, default_workers, resolve_device, run_jobs
from search_spaces import get_space


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sample", type=int, default=24, help="candidates (default: 24, as the demo)")
    p.add_argument("--sample-seed", type=int, default=0)
    p.add_argument("--shapes", type=int, help="draw the sample from this many (depth, width, pool) only")
    p.add_argument("--epochs", type=int, default=5, help="epochs on the proxy (the demo trains 60)")
    p.add_argument("--truth-epochs", type=int, default=1, help="epochs on the full split (the demo: 15)")
    p.add_argument("--stack", type=int, help="engine stack size (default: default_stack_size)")
    p.add_argument("--workers", type=int, help="engine stacks at once (default: default_workers)")
    p.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's choice)")
    p.add_argument("--repeat", type=int, default=2)
    p.add_argument("--device", default="cpu")
    p.add_argument("--name", default="demo_cpu", help="result file benchmarks/results/NAME.json")
    return p.parse_args()


def sample(space: Any, n: int, seed: int, shapes: int | None) -> list[Any]:
    if shapes is None:
        return space.sample(n, seed)
    keys = sorted({space.stack_key(c) for c in space.candidates()})
    chosen = torch.randperm(len(keys), generator=torch.Generator().manual_seed(seed))[:shapes].tolist()
    pool = [c for c in space.candidates() if space.stack_key(c) in {keys[i] for i in chosen}]
    return pool[:n]


def main() -> None:
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    space = get_space("dc_convnet")
    candidates = sample(space, args.sample, args.sample_seed, args.shapes)
    splits = load_dataset("digits")
    random = get_method("random")
    context = Context(dataset_info("digits"), device, seed=0)
    proxy = random.condense(splits.train, 10, random.settings(), context)
    train, val, test = splits.train.to(device), splits.val.to(device), splits.test.to(device)
    jobs = [Job(c, 0) for c in candidates]
    stack = args.stack or default_stack_size(device)
    workers = args.workers or default_workers(device)

    def study(engine: bool) -> list[Any]:
        outcomes = []
        phases = (("proxy", proxy.to(device), args.epochs), ("truth", train, args.truth_epochs))
        for phase, data, epochs in phases:
            protocol = Protocol(epochs=epochs)
            if engine:
                runs = run_jobs(jobs, space, data, val, test, protocol, max_models=stack, workers=workers)
            else:
                runs = run_jobs(jobs, OneAtATime(space), data, val, test, protocol, max_models=1, workers=1)
            outcomes += [(phase, o) for o in runs]
        return outcomes

    times: dict[str, list[float]] = {"one_at_a_time": [], "engine": []}
    cpu_times: dict[str, list[float]] = {"one_at_a_time": [], "engine": []}
    results: dict[str, list[Any]] = {}
    for _ in range(args.repeat):
        for name, engine in (("one_at_a_time", False), ("engine", True)):
            cpu_start = time.process_time()
            seconds, results[name] = timed(lambda engine=engine: study(engine), device)
            times[name].append(seconds)
            cpu_times[name].append(time.process_time() - cpu_start)
            print(f"{name}: {seconds:.1f} s", flush=True)
    alone = {(phase, o.job.candidate.id, o.job.seed): o.val_acc for phase, o in results["one_at_a_time"]}
    acc_gap = max(abs((alone[phase, o.job.candidate.id, o.job.seed] or 0) - (o.val_acc or 0))
                  for phase, o in results["engine"])
    best = {k: min(v) for k, v in times.items()}
    median = {k: statistics.median(v) for k, v in times.items()}
    cand_epochs = len(jobs) * (args.epochs + args.truth_epochs)
    stacks = len({space.stack_key(c) for c in candidates})
    record = {
        **environment(device),
        "workload": {"candidates": len(jobs), "shapes": stacks, "proxy": "random_digits_ipc10 (100 images)",
                     "proxy_epochs": args.epochs, "truth_images": len(train),
                     "truth_epochs": args.truth_epochs, "engine_stack": stack, "engine_workers": workers},
        "seconds": times,
        "cpu_seconds": cpu_times,  # all threads of the process, OpenMP spin-waits included
        "cores": os.cpu_count(),
        # the engine's workers never spin: its CPU time is the work, and work / cores the fastest wall time
        "engine_core_efficiency": statistics.median(c / (w * os.cpu_count())
                                                    for c, w in zip(cpu_times["engine"], times["engine"],
                                                                    strict=True)),
        "best_speedup": best["one_at_a_time"] / best["engine"],
        "median_speedup": median["one_at_a_time"] / median["engine"],
        "candidate_epochs_per_s": {k: cand_epochs / v for k, v in best.items()},
        "max_val_acc_gap": acc_gap,
        "note": "wall time on a CPU shared with other processes; runs alternate; best and median of repeats",
    }
    print(table([
        ("device", record["device"]),
        ("candidates (shapes)", f"{len(jobs)} ({stacks})"),
        ("one at a time, s (runs)", " ".join(f"{t:.1f}" for t in times["one_at_a_time"])),
        ("engine, s (runs)", " ".join(f"{t:.1f}" for t in times["engine"])),
        ("speedup best / median", f"{record['best_speedup']:.2f}x / {record['median_speedup']:.2f}x"),
        ("engine: CPU s / (wall s x cores)", f"{record['engine_core_efficiency']:.0%}"),
        ("max val-acc gap", f"{acc_gap:.4f}"),
    ]))
    print(f"saved {save(args.name, record)}")


if __name__ == "__main__":
    main()
