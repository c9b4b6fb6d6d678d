"""Device-seconds of one plan through each executor (issue 18, case 7): the rows' summed ``seconds``
(what the papers' time column adds up), the command's wall time, and how the cost was measured.

    PROXYNAS_HOME=/tmp/bench-home python benchmarks/bench_cost.py --threads 1 --repeats 3 --modes w1,w2,ray

``w1``/``w2``: the local executor with 1 or 2 workers; ``ray``: a local Ray of 2 CPUs started here (one
model per stack, 4 dc_convnet candidates, 2 epochs on digits' training split, batch 64). Prints one JSON
line per run; the figures in ``benchmarks/results/README.md`` ("Cost") came from it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from proxynas.datasets import load_dataset
from proxynas.engine import Protocol
from proxynas.engine.executors import ExecutorOptions, make_executor
from proxynas.plans import Plan, TrainingData, plan_rows, train_into_store
from proxynas.store import ResultsStore
from search_spaces import get_space

IDS = ["d1_w32_relu_instancenorm_avgpool", "d2_w32_sigmoid_batchnorm_maxpool", "d1_w64_leakyrelu_none_avgpool",
       "d2_w32_relu_groupnorm_none"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads of this process")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--modes", default="w1,w2,ray")
    p.add_argument("--epochs", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    digits = load_dataset("digits")
    space = get_space("dc_convnet")
    plan = Plan(space, [space.parse(i) for i in IDS], Protocol(epochs=args.epochs, batch_size=64), 1, "full_digits",
                "digits")
    data = TrainingData(digits.train, digits.val, digits.test)
    modes = args.modes.split(",")
    if "ray" in modes:
        import ray

        ray.init(address="local", num_cpus=2, include_dashboard=False)
    with ResultsStore(Path(f"/tmp/bench-cost-{time.time_ns()}.sqlite")) as store:
        for mode in modes:
            for rep in range(args.repeats):
                options = (ExecutorOptions(name="ray", device="cpu") if mode == "ray"
                           else ExecutorOptions(workers=int(mode[1:])))
                run = Plan(**{**plan.__dict__, "fingerprint": f"{mode}-{rep}"})
                start = time.perf_counter()
                train_into_store(run, store, data, executor=make_executor(options), max_models=1)
                rows = plan_rows(store, run)
                print(json.dumps({"mode": mode, "repeat": rep, "threads": args.threads,
                                  "device_seconds": sum(r.seconds for r in rows),
                                  "wall_seconds": time.perf_counter() - start,
                                  "cost_method": sorted({r.cost_method for r in rows}),
                                  "per_candidate": [round(r.seconds, 3) for r in rows]}), flush=True)


if __name__ == "__main__":
    main()
