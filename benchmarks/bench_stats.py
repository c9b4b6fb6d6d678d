"""How long a study's statistics take: ``compare_sides`` with its bootstrap intervals on synthetic rows.

No training: one proxy (one seed) and a ground truth (``--truth-seeds`` seeds) over ``--candidates``
dc_convnet candidates, accuracies drawn from a fixed generator. ``--other DIR`` also times the
``analysis`` package found in DIR (e.g. an older commit's, ``git archive COMMIT analysis | tar -x -C
DIR``), alternating the two in fresh processes, and reports the ratio.

    python benchmarks/bench_stats.py --candidates 720 --resamples 1000 --repeat 3 --other /tmp/old --name stats_cpu
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

CHILD = """
import importlib.util, json, sys, time
import numpy as np
tree = {tree!r}  # load `analysis` from this folder, ahead of the installed (editable) one
spec = importlib.util.spec_from_file_location("analysis", tree + "/analysis/__init__.py",
                                              submodule_search_locations=[tree + "/analysis"])
sys.modules["analysis"] = module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
from analysis.sides import Side
from analysis.study import compare_sides
from proxynas.store import ResultRow
from search_spaces import get_space

n, seeds, resamples = {n}, {seeds}, {resamples}
ids = [c.id for c in get_space("dc_convnet").sample(n, seed=0)]
rng = np.random.default_rng(0)
quality = 0.6 + 0.05 * rng.standard_normal(n)

def side(label, kind, by_seed):
    rows = tuple(ResultRow("dc_convnet", c, label, "p", s, "digits", "done", float(v[i]), float(v[i]), 0.5, 1.0, 5)
                 for s, v in by_seed.items() for i, c in enumerate(ids))
    return Side(label, kind, label, "p", 5, {{"epochs": 5}}, rows)

truth = side("full_digits", "truth", {{s: quality + 0.03 * rng.standard_normal(n) for s in range(seeds)}})
proxy = side("random_digits_ipc10", "proxy", {{0: quality + 0.05 * rng.standard_normal(n)}})
start = time.perf_counter()
study = compare_sides(truth, [(proxy, None)], space="dc_convnet", dataset="digits", resamples=resamples)
seconds = time.perf_counter() - start
rho = study.comparisons[0].scores["spearman"]
print(json.dumps({{"seconds": seconds, "spearman": rho.value, "module": module.__file__,
                  "interval": None if rho.interval is None else [rho.interval.low, rho.interval.high]}}))
"""


def run_once(tree: Path, args: argparse.Namespace) -> dict:
    code = CHILD.format(tree=str(tree), n=args.candidates, seeds=args.truth_seeds, resamples=args.resamples)
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--candidates", type=int, default=720)
    p.add_argument("--truth-seeds", type=int, default=2)
    p.add_argument("--resamples", type=int, default=1000)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--other", type=Path, help="a folder holding another `analysis` package to time beside")
    p.add_argument("--name", help="write benchmarks/results/NAME.json")
    args = p.parse_args()
    contestants = {"this tree": ROOT, **({"other": args.other} if args.other else {})}
    runs: dict[str, list[dict]] = {k: [] for k in contestants}
    for _ in range(args.repeat):
        for label, tree in contestants.items():
            runs[label].append(run_once(tree, args))
    medians = {k: statistics.median(r["seconds"] for r in v) for k, v in runs.items()}
    for label, rs in runs.items():
        times = ", ".join(f"{r['seconds']:.2f}" for r in rs)
        print(f"{label} ({rs[0]['module']}): {times} s; spearman {rs[0]['spearman']:.4f} "
              f"interval {rs[0]['interval']}")
    if args.other:
        print(f"median ratio this tree / other: {medians['this tree'] / medians['other']:.2f}")
    if args.name:
        sys.path.insert(0, str(HERE))
        import torch
        from benchlib import environment, save

        record = {"environment": environment(torch.device("cpu")), "load_average": os.getloadavg(),
                  "settings": vars(args) | {"other": str(args.other)}, "runs": runs, "median_seconds": medians}
        print(f"wrote {save(args.name, record)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
