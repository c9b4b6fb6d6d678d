"""Ray's overhead: the demo's workload through the local executor and through a local Ray, same run.

The workload is ``proxynas demo``'s: 24 dc_convnet candidates drawn with seed 0, trained on a random
digits ipc-10 proxy (100 images, ``--epochs``, the demo's 40) and on the full digits training split
(the ground truth, ``--truth-epochs``, the demo's 10), one model per stack (the CPU default). Arms:
  local: ``LocalExecutor`` with the CPU defaults (``default_workers`` threads, one torch thread each);
  ray:   ``RayExecutor`` on a local Ray of ``--cpus`` CPUs (one CPU and one torch thread per task).
Ray's workers run at ``--worker-niceness`` (default 0, as the local arm; Ray's own default is 15).
Ray's start-up (``ray.init`` and the start of one worker process per CPU, each importing torch and the
engine) is timed apart; the arms then alternate (local, ray, ray, local, ...) ``--repeat`` times each,
so that the load of a shared machine hits both alike. Besides wall time, each run's CPU seconds are
read from /proc: the local arm's process; the ray arm's driver and every process under it (GCS,
raylet, Ray's agents, the workers), which shared load moves far less than wall time. Outcomes are
compared candidate for candidate.

    python benchmarks/bench_executor.py --repeat 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import ray
import torch
from benchlib import environment, save, table

from condensed import get_method
from condensed.base import Context
from proxynas.datasets import dataset_info, load_dataset
from proxynas.engine import Job, Protocol, default_workers, run_jobs
from proxynas.engine.executors import Executor, ExecutorOptions, LocalExecutor
from proxynas.scaleout.plugin import RayOptions
from proxynas.scaleout.ray_executor import RayExecutor
from search_spaces import get_space


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sample", type=int, default=24, help="candidates (default: 24, as the demo)")
    p.add_argument("--epochs", type=int, default=40, help="epochs on the proxy (default: 40, as the demo)")
    p.add_argument("--truth-epochs", type=int, default=10, help="epochs on the full split (default: 10, as the demo)")
    p.add_argument("--cpus", type=int, default=os.cpu_count(), help="CPUs of the local Ray (default: all)")
    p.add_argument("--repeat", type=int, default=2, help="runs of each arm")
    p.add_argument("--worker-niceness", type=int, default=0,
                   help="nice value of Ray's worker processes (default: 0, as the local arm's threads; "
                        "Ray's own default is 15, which yields the CPU to every other process)")
    p.add_argument("--name", default="executor_cpu", help="result file benchmarks/results/NAME.json")
    return p.parse_args()


@dataclass(frozen=True)
class Proc:
    name: str
    ppid: int
    cpu: float  # user + system CPU seconds so far, all threads


def processes() -> dict[int, Proc]:
    """Every live process, by pid (from /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        rest = stat[stat.rindex(")") + 2:].split()  # fields from the 3rd (state) on
        found[int(entry)] = Proc(stat[stat.index("(") + 1:stat.rindex(")")], int(rest[1]),
                                 (int(rest[11]) + int(rest[12])) / tick)
    return found


def tree(root: int, table: dict[int, Proc]) -> set[int]:
    """``root`` and its live descendants (for the driver: Ray's GCS, raylet, agents and workers)."""
    children: dict[int, list[int]] = {}
    for pid, proc in table.items():
        children.setdefault(proc.ppid, []).append(pid)
    found, todo = set(), [root]
    while todo:
        pid = todo.pop()
        found.add(pid)
        todo += children.get(pid, [])
    return found


def cpu_used(before: dict[int, Proc], after: dict[int, Proc], pids: set[int]) -> float:
    """CPU seconds the processes ``pids`` used between two snapshots (processes that ended are missed)."""
    return sum(after[p].cpu - (before[p].cpu if p in before else 0.0) for p in pids if p in after)


def warm_worker() -> int:
    """A worker process's start: what the first stack's task would import."""
    import proxynas.scaleout.worker  # noqa: F401

    time.sleep(0.5)  # held long enough that every CPU's task gets a process of its own
    return os.getpid()


def start_ray(cpus: int, niceness: int) -> dict[str, float]:
    start = time.perf_counter()
    ray.init(address="local", num_cpus=cpus, include_dashboard=False, _system_config={"worker_niceness": niceness})
    initialized = time.perf_counter()
    pids = ray.get([ray.remote(num_cpus=1)(warm_worker).remote() for _ in range(cpus)])
    warm = time.perf_counter()
    return {"ray_init_s": initialized - start, "worker_processes_s": warm - initialized - 0.5,
            "worker_processes": len(set(pids))}


def main() -> None:
    args = parse_args()
    cpu = torch.device("cpu")
    space = get_space("dc_convnet")
    candidates = space.sample(args.sample, seed=0)
    splits = load_dataset("digits")
    random = get_method("random")
    proxy = random.condense(splits.train, 10, random.settings(), Context(dataset_info("digits"), cpu, seed=0))
    jobs = [Job(c, 0) for c in candidates]
    phases = (("proxy", proxy, Protocol(epochs=args.epochs)),
              ("truth", splits.train, Protocol(epochs=args.truth_epochs)))

    def study(executor: Executor) -> dict[tuple[str, str], tuple[Any, ...]]:
        found = {}
        for phase, data, protocol in phases:
            for o in run_jobs(jobs, space, data, splits.val, splits.test, protocol, max_models=1, executor=executor):
                found[phase, o.job.candidate.id] = (o.status, o.train_loss, o.val_acc, o.test_acc)
        return found

    startup = start_ray(args.cpus, args.worker_niceness)
    print(f"ray start-up: {startup}", flush=True)
    arms: dict[str, Callable[[], Executor]] = {
        "local": lambda: LocalExecutor(ExecutorOptions(device="cpu")),
        "ray": lambda: RayExecutor(RayOptions(device="cpu", cpus_per_task=1)),
    }
    times: dict[str, list[float]] = {name: [] for name in arms}
    cpu_s: dict[str, list[float]] = {name: [] for name in arms}  # local: this process; ray: it and Ray's tree
    loads: list[tuple[str, float]] = []
    results: dict[str, dict[tuple[str, str], tuple[Any, ...]]] = {}
    for r in range(args.repeat):
        for name in (("local", "ray") if r % 2 == 0 else ("ray", "local")):
            before, start = processes(), time.perf_counter()
            results[name] = study(arms[name]())
            times[name].append(time.perf_counter() - start)
            after = processes()
            pids = {os.getpid()} if name == "local" else tree(os.getpid(), after)
            cpu_s[name].append(cpu_used(before, after, pids))
            loads.append((name, os.getloadavg()[0]))
            print(f"{name}: {times[name][-1]:.1f} s wall, {cpu_s[name][-1]:.1f} CPU s "
                  f"(load average {loads[-1][1]:.1f})", flush=True)
    live = processes()
    ray_processes = sorted({live[p].name for p in tree(os.getpid(), live)})
    ray.shutdown()
    same = results["local"] == results["ray"]
    best = {k: min(v) for k, v in times.items()}
    median = {k: statistics.median(v) for k, v in times.items()}
    cand_epochs = len(jobs) * (args.epochs + args.truth_epochs)
    record = {
        **environment(cpu),
        "ray": ray.__version__,
        "cores": os.cpu_count(),
        "workload": {"candidates": len(jobs), "proxy": "random_digits_ipc10 (100 images)", "proxy_epochs": args.epochs,
                     "truth_images": len(splits.train), "truth_epochs": args.truth_epochs, "stack": 1,
                     "local_workers": default_workers(cpu), "ray_cpus": args.cpus, "ray_cpus_per_task": 1,
                     "ray_worker_niceness": args.worker_niceness},
        "startup": startup,
        "seconds": times,
        "load_average_1min_after_each_run": loads,
        "ray_over_local_best": best["ray"] / best["local"],
        "ray_over_local_median": median["ray"] / median["local"],
        "ray_over_local_per_pair": [r / lo for r, lo in zip(times["ray"], times["local"], strict=True)],
        # CPU seconds: the local arm's process; the ray arm's driver, GCS, raylet, agents and workers
        "cpu_seconds": cpu_s,
        "ray_over_local_cpu_median": statistics.median(cpu_s["ray"]) / statistics.median(cpu_s["local"]),
        "driver_process_tree": ray_processes,
        "candidate_epochs_per_s": {k: cand_epochs / v for k, v in best.items()},
        "outcomes_identical": same,
        "note": "wall time on a 2-core CPU shared with other engineers' runs; arms alternate; the ray arm "
                "includes its per-run costs (object store put, each worker process fetching the data once)",
    }
    print(table([
        ("device", record["device"]),
        ("ray start-up, s", f"init {startup['ray_init_s']:.1f} + worker processes {startup['worker_processes_s']:.1f}"),
        ("local, s (runs)", " ".join(f"{t:.1f}" for t in times["local"])),
        ("ray, s (runs)", " ".join(f"{t:.1f}" for t in times["ray"])),
        ("ray / local best, median", f"{record['ray_over_local_best']:.3f} / {record['ray_over_local_median']:.3f}"),
        ("local, CPU s (runs)", " ".join(f"{t:.1f}" for t in cpu_s["local"])),
        ("ray, CPU s (runs)", " ".join(f"{t:.1f}" for t in cpu_s["ray"])),
        ("ray / local CPU s, median", f"{record['ray_over_local_cpu_median']:.3f}"),
        ("outcomes identical", str(same)),
    ]))
    print(f"saved {save(args.name, record)}")


if __name__ == "__main__":
    main()
