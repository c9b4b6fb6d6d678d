"""Ray workers that stay: processes started and wall time of one small plan, tasks (before) vs actors (now).

One plan (``--sample`` dc_convnet candidates drawn with seed 0, one model per stack, ``--epochs`` on the
first 100 digits training images) runs through ``--executor ray`` on a fresh local Ray of ``--cpus``
CPUs, in a child process per run, with three codes:
  before:     the Ray executor of ``--before`` (a checkout of the code before actors, e.g. 51d6896), as it
              runs on the CPU: a Ray task per stack, Ray reusing worker processes (``max_calls=0``);
  before-gpu: the same code with ``max_calls=1`` forced, as it ran every GPU task: a fresh process per stack;
  actors:     this checkout: one actor per CPU slot for the whole run.
Each stack's build writes the pid of the process that trains it, so a run counts the distinct processes
that trained its stacks. Wall time is the plan's run alone (``ray.init`` timed apart); the arms alternate
``--repeat`` times so that a shared machine's load hits them alike; outcomes are compared across arms.

    git worktree add /tmp/before 51d6896
    python benchmarks/bench_ray_actors.py --before /tmp/before --repeat 2
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ARMS = ("before", "before-gpu", "actors")


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--before", type=Path, help="a checkout of the code before actors (for the before arms)")
    p.add_argument("--sample", type=int, default=16, help="candidates, one stack each (default 16)")
    p.add_argument("--epochs", type=int, default=3, help="epochs on 100 digits images (default 3)")
    p.add_argument("--cpus", type=int, default=2, help="CPUs of the local Ray (default 2)")
    p.add_argument("--repeat", type=int, default=2, help="runs of each arm")
    p.add_argument("--note", default="", help="what the machine was doing (stored with the figures)")
    p.add_argument("--name", default="ray_actors_cpu", help="result file benchmarks/results/NAME.json")
    p.add_argument("--child", choices=ARMS, help=argparse.SUPPRESS)
    return p.parse_args()


class PidLogged:
    """A space whose stack builds append the building process's pid to ``log`` (travels by value)."""

    def __init__(self, space: Any, log: str) -> None:
        self.space, self.log, self.name = space, log, space.name

    def stack_key(self, candidate: Any) -> Any:
        return self.space.stack_key(candidate)

    def build_stack(self, candidates: Any, seeds: Any, shape: Any, classes: int) -> Any:
        with open(self.log, "a") as f:
            f.write(f"{os.getpid()}\n")
        return self.space.build_stack(candidates, seeds, shape, classes)


def child(arm: str, args: argparse.Namespace) -> dict[str, Any]:
    """One run of one arm in this process (its proxynas is the one on PYTHONPATH)."""
    import ray
    import torch

    import proxynas
    from proxynas.datasets import load_dataset
    from proxynas.engine import Accel, Job, Protocol, run_jobs
    from proxynas.engine.executors import ExecutorOptions, make_executor
    from search_spaces import get_space

    torch.set_num_threads(1)
    if arm == "before-gpu":
        import proxynas.scaleout.ray_executor as before

        class MaxCallsOne:
            """``ray`` with every remote function's ``max_calls`` forced to 1 (the old GPU setting)."""

            def __getattr__(self, name: str) -> Any:
                return getattr(ray, name)

            def remote(self, **options: Any) -> Any:
                return ray.remote(**{**options, "max_calls": 1})

        before.ray = MaxCallsOne()
    space = get_space("dc_convnet")
    splits = load_dataset("digits")
    jobs = [Job(c, 0) for c in space.sample(args.sample, seed=0)]
    log = Path(tempfile.mkdtemp()) / "pids.log"
    start = time.perf_counter()
    ray.init(address="local", num_cpus=args.cpus, include_dashboard=False)
    init_s = time.perf_counter() - start
    executor = make_executor(ExecutorOptions(name="ray", device="cpu"))
    start = time.perf_counter()
    outcomes = list(run_jobs(jobs, PidLogged(space, str(log)), splits.train.subset(torch.arange(100)), splits.val,
                             splits.test, Protocol(epochs=args.epochs, batch_size=32), max_models=1,
                             accel=Accel(), executor=executor))
    run_s = time.perf_counter() - start
    ray.shutdown()
    pids = log.read_text().split()
    return {"arm": arm, "proxynas": str(Path(proxynas.__file__).parent.parent), "ray_init_s": init_s,
            "run_s": run_s, "stacks": len(pids), "processes": len(set(pids)),
            "outcomes": sorted((o.job.candidate.id, o.status, o.train_loss, o.val_acc, o.test_acc) for o in outcomes)}


def main() -> None:
    args = parse_args()
    if args.child:
        print(json.dumps(child(args.child, args)))
        return
    root = HERE.parent
    arms = ARMS if args.before is not None else ("actors",)
    runs: dict[str, list[dict[str, Any]]] = {arm: [] for arm in arms}
    for r in range(args.repeat):
        for arm in (arms if r % 2 == 0 else tuple(reversed(arms))):
            tree = root if arm == "actors" else args.before.resolve()
            env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tree), str(tree / "benchmarks")])}
            done = subprocess.run([sys.executable, __file__, "--child", arm, "--sample", str(args.sample),
                                   "--epochs", str(args.epochs), "--cpus", str(args.cpus)],
                                  env=env, capture_output=True, text=True, timeout=3600, cwd=tree)
            if done.returncode != 0:
                raise SystemExit(f"{arm} failed:\n{done.stderr[-3000:]}")
            found = json.loads(done.stdout.strip().splitlines()[-1])
            found["load_average_1min_after"] = os.getloadavg()[0]
            runs[arm].append(found)
            print(f"{arm}: {found['run_s']:.1f} s, {found['processes']} processes for {found['stacks']} stacks "
                  f"(load average {found['load_average_1min_after']:.1f}; code {found['proxynas']})", flush=True)
    reference = runs[arms[-1]][0]["outcomes"]
    same = all(run["outcomes"] == reference for arm in arms for run in runs[arm])
    median = {arm: statistics.median(run["run_s"] for run in runs[arm]) for arm in arms}
    sys.path.insert(0, str(HERE))
    import ray
    import torch
    from benchlib import environment, save

    record = {
        **environment(torch.device("cpu")),
        "ray": ray.__version__,
        "cores": os.cpu_count(),
        "workload": {"space": "dc_convnet", "candidates": args.sample, "stack": 1, "images": 100,
                     "epochs": args.epochs, "batch": 32, "ray_cpus": args.cpus, "cpus_per_task": 1},
        "before_code": None if args.before is None else str(args.before),
        "runs": {arm: [{k: v for k, v in run.items() if k != "outcomes"} for run in runs[arm]] for arm in arms},
        "processes_per_run": {arm: [run["processes"] for run in runs[arm]] for arm in arms},
        "run_seconds_median": median,
        "over_actors_median": {arm: median[arm] / median["actors"] for arm in arms},
        "outcomes_identical": same,
        "note": args.note or "wall time on a shared CPU; only ratios of arms run side by side mean anything",
    }
    for arm in arms:
        print(f"{arm}: median {median[arm]:.1f} s ({median[arm] / median['actors']:.2f}x actors), processes "
              f"{record['processes_per_run'][arm]}")
    print(f"outcomes identical: {same}")
    print(f"saved {save(args.name, record)}")


if __name__ == "__main__":
    main()
