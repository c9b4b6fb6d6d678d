"""The memory model's predicted peaks against measured ones, for every stack kind of the demo's sample.

For each (depth, width, pooling) kind among the ``demo-digits`` recipe's candidates, the grouped stack of
its candidates is predicted (``engine.memory.predict``, fake tensors) and measured (``engine.memory_measure``:
the profiler's memory events on the CPU, ``max_memory_allocated`` on CUDA), in fp32 and under bf16
autocast. Written to ``benchmarks/results/memory_model_<device>.json``.

    python benchmarks/memory_model.py --batch 256
"""

from __future__ import annotations

import argparse
import sys
import time
import tomllib

from benchlib import environment, save

from proxynas.datasets import load_dataset
from proxynas.engine import resolve_device
from proxynas.engine.accel import Accel
from proxynas.engine.memory import predict
from proxynas.engine.memory_measure import measured_peak, step_shape
from proxynas.study.catalog import recipe_text
from search_spaces import get_space


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--batch", type=int, default=256)
    args = p.parse_args()
    device = resolve_device(args.device)
    space = get_space("dc_convnet")
    spec = tomllib.loads(recipe_text("demo-digits"))["space"]
    candidates = space.sample(spec["sample"], spec["sample_seed"], **{k: list(v) for k, v in spec["where"].items()})
    kinds: dict = {}
    for c in candidates:
        kinds.setdefault(space.stack_key(c), []).append(c)
    data = load_dataset("digits").train.to(device)
    rows = []
    for precision, accel in (("fp32", Accel()), ("bf16", Accel(bf16=True))):
        for members in kinds.values():
            start = time.perf_counter()
            predicted = predict(space, members, step_shape(data, args.batch, accel))
            predict_seconds = time.perf_counter() - start
            measured = measured_peak(space, members, data, args.batch, accel)
            row = {"precision": precision, "kind": "d{}_w{}_{}".format(*space.stack_key(members[0])),
                   "models": len(members), "predicted": predicted.peak, "measured": measured,
                   "largest": predicted.largest, "ratio": round(predicted.peak / measured, 4),
                   "gap_in_largest": round(abs(predicted.peak - measured) / predicted.largest, 3),
                   "predict_seconds": round(predict_seconds, 2)}
            rows.append(row)
            print(row, flush=True)
    summary = {precision: {"ratio_min": min(r["ratio"] for r in rows if r["precision"] == precision),
                           "ratio_max": max(r["ratio"] for r in rows if r["precision"] == precision),
                           "gap_in_largest_max": max(r["gap_in_largest"] for r in rows if r["precision"] == precision)}
               for precision in ("fp32", "bf16")}
    path = save(f"memory_model_{device.type}", {"environment": environment(device), "batch": args.batch,
                                                "summary": summary, "rows": rows})
    print(summary, "->", path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
