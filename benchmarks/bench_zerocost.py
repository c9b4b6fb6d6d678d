"""Zero-cost scoring of the whole nb201 space: ``params``, ``flops`` and ``synflow`` of all 15,625 cells
through ``proxynas.zerocost.score`` (batched synflow, formulas for params and flops), against a per-cell loop
written as the references write it, in the same run.

The reference loop, per cell (zero-cost-nas ``find_measures`` / NASLib ``find_measures`` with the
networks they build): build the network (torch's default initialisation), count its parameters
(``count_parameters``), count FLOPs with forward hooks on one image (as tensorwatch / ptflops do), then
synflow: ``copynet(bn=False)`` (a deep copy with BatchNorm a no-op), signs kept and every state tensor
made positive, float64, one all-ones image, backward, sum of |w * grad| per Conv2d/Linear, signs restored.
It runs on a sample of cells (``--reference-cells``, half before and half after ours) and its per-cell
time is scaled to the space; ours scores every cell (``--limit`` for fewer).

    python benchmarks/bench_zerocost.py --name zerocost_cpu [--keep]

``--keep`` copies the scores into the results store (``$PROXYNAS_HOME``), where the recipe
``zero-cost-nb201-cifar10`` finds them.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import tempfile
import time
import types
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.benchlib import environment, save
from proxynas import paths
from proxynas.scoring import ScoreStore
from proxynas.zerocost import MEASURES, Probe
from proxynas.zerocost.score import score
from search_spaces import get_space

SHAPE, CLASSES = (3, 32, 32), 10  # CIFAR-10
MEASURED = ("params", "flops", "synflow")


def reference_cell(space, candidate) -> tuple[float, float, float]:
    net = space.build(candidate, SHAPE, CLASSES)
    n_params = sum(p.numel() for p in net.parameters() if p.requires_grad)
    n_flops = MEASURES.get("flops").fn(net, Probe(None, None, SHAPE, CLASSES, 1, 0))
    net.train()
    copy_ = copy.deepcopy(net)
    for layer in copy_.modules():
        if isinstance(layer, (nn.BatchNorm2d, nn.BatchNorm1d)):
            layer.forward = types.MethodType(lambda self, x: x, layer)
    with torch.no_grad():
        signs = {name: torch.sign(t) for name, t in copy_.state_dict().items()}
        for t in copy_.state_dict().values():
            t.abs_()
    copy_.zero_grad()
    copy_.double()
    copy_(torch.ones(1, *SHAPE, dtype=torch.float64)).sum().backward()
    per_layer = [(m.weight * m.weight.grad).abs() if m.weight.grad is not None else torch.zeros_like(m.weight)
                 for m in copy_.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    value = sum(float(a.sum()) for a in per_layer)
    with torch.no_grad():
        for name, t in copy_.state_dict().items():
            t.mul_(signs[name])
    return float(n_params), n_flops, value


def reference_loop(space, cells) -> list[float]:
    seconds = []
    for c in cells:
        start = time.perf_counter()
        reference_cell(space, c)
        seconds.append(time.perf_counter() - start)
    return seconds


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--reference-cells", type=int, default=24, help="cells the reference loop scores (sample)")
    p.add_argument("--limit", type=int, help="score only this many cells (default: all 15,625)")
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads (1: two threads spin against each other on a loaded 2-core CPU)")
    p.add_argument("--name", default="zerocost_cpu")
    p.add_argument("--note", default="", help="what the record should say of the machine (load, sharing)")
    p.add_argument("--keep", action="store_true", help="copy the scores into the results store")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    space = get_space("nb201")
    cells = space.candidates()
    if args.limit:
        cells = space.sample(args.limit, seed=0)
    sample = space.sample(args.reference_cells, seed=1)
    half = len(sample) // 2
    ref_seconds = reference_loop(space, sample[:half])
    ours: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp, ScoreStore(Path(tmp) / "scores.sqlite") as store:
        rows = []
        for name in MEASURED:
            start = time.perf_counter()
            rows += score(store, name, space, cells, "cifar10")
            ours[name] = time.perf_counter() - start
            print(f"ours {name}: {len(cells)} cells in {ours[name]:.1f} s", flush=True)
        if args.keep:
            with ScoreStore(paths.results_db()) as kept:
                for key in {r.settings for r in rows}:
                    kept.save_settings(store.settings(key))
                kept.put(rows)
    ref_seconds += reference_loop(space, sample[half:])
    per_cell = statistics.fmean(ref_seconds)
    ours_total = sum(ours.values())
    reference_total = per_cell * len(cells)
    record = {"environment": environment(torch.device("cpu")), "cells": len(cells),
              "ours_seconds": ours, "ours_total_seconds": ours_total,
              "reference_cells": len(sample), "reference_seconds_per_cell": per_cell,
              "reference_seconds_per_cell_all": ref_seconds,
              "reference_total_seconds_scaled": reference_total, "speedup": reference_total / ours_total,
              "note": args.note}
    print(f"ours: {ours_total:.1f} s for {len(cells)} cells; reference loop: {per_cell:.3f} s per cell "
          f"({reference_total:.0f} s scaled to {len(cells)} cells); speedup {record['speedup']:.1f}x")
    print(f"wrote {save(args.name, record)}")


if __name__ == "__main__":
    main()
