"""The memory model's predicted peaks against measured ones, for every stack kind of the demo's sample.

For each (depth, width, pooling) kind among the ``demo-digits`` recipe's candidates, the grouped stack of
its candidates is predicted (``engine.memory.predict``, fake tensors) and measured (``engine.memory_measure``:
the profiler's memory events on the CPU, ``max_memory_allocated`` on CUDA), in fp32 and under bf16
autocast, at each ``--batch``. Each row says whether it meets the memory tests' tolerance
(``memory_measure.TOLERANCE``). The record holds the CPU's kernels (ATen's capability, oneDNN's bf16
convolutions or ATen's im2col ones) and the load average before and after: on a shared machine the
peaks do not move with the load, the seconds do. Written to ``benchmarks/results/<name>.json``.

    python benchmarks/memory_model.py --batch 64 --batch 256 --name memory_model_cpu_avx512
    ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2 MKL_ENABLE_INSTRUCTIONS=AVX2 \\
        python benchmarks/memory_model.py --batch 64 --batch 256 --name memory_model_cpu_avx2
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import tomllib
from datetime import UTC, datetime

from benchlib import environment, save
from machine import cpu_description, git_commit, load_average

from proxynas.datasets import load_dataset
from proxynas.engine import resolve_device
from proxynas.engine.accel import Accel
from proxynas.engine.memory import predict
from proxynas.engine.memory_kernels import im2col_bf16_convolutions
from proxynas.engine.memory_measure import TOLERANCE, measured_peak, step_shape, within_tolerance
from proxynas.study.catalog import recipe_text
from search_spaces import get_space

KERNEL_ENV = ("ONEDNN_MAX_CPU_ISA", "ATEN_CPU_CAPABILITY", "MKL_ENABLE_INSTRUCTIONS", "OMP_NUM_THREADS")


def demo_kinds(space) -> dict:
    spec = tomllib.loads(recipe_text("demo-digits"))["space"]
    candidates = space.sample(spec["sample"], spec["sample_seed"], **{k: list(v) for k, v in spec["where"].items()})
    kinds: dict = {}
    for c in candidates:
        kinds.setdefault(space.stack_key(c), []).append(c)
    return kinds


def summary(rows: list[dict]) -> dict:
    out: dict = {}
    for row in rows:
        key = f"{row['precision']}/batch{row['batch']}"
        entry = out.setdefault(key, {"kinds": 0, "within_tolerance": 0, "ratio_min": 9.0, "ratio_max": 0.0,
                                     "gap_in_largest_max": 0.0})
        entry["kinds"] += 1
        entry["within_tolerance"] += row["within_tolerance"]
        entry["ratio_min"] = min(entry["ratio_min"], row["ratio"])
        entry["ratio_max"] = max(entry["ratio_max"], row["ratio"])
        entry["gap_in_largest_max"] = max(entry["gap_in_largest_max"], row["gap_in_largest"])
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--batch", type=int, action="append", help="images per model and step (repeatable; 256)")
    p.add_argument("--precision", choices=("fp32", "bf16"), action="append", help="(repeatable; both)")
    p.add_argument("--name", default=None, help="result file name (memory_model_<device>)")
    args = p.parse_args()
    device = resolve_device(args.device)
    space = get_space("dc_convnet")
    kinds = demo_kinds(space)
    data = load_dataset("digits").train.to(device)
    accels = {"fp32": Accel(), "bf16": Accel(bf16=True)}
    record = {"environment": environment(device) | {"cpu_detail": cpu_description(), "git": git_commit(),
                                                    "kernel_env": {k: os.environ.get(k) for k in KERNEL_ENV},
                                                    "bf16_convolutions": "ATen im2col" if im2col_bf16_convolutions()
                                                    else "oneDNN"},
              "load_average_start": load_average(), "tolerance": TOLERANCE,
              "tolerance_source": "tests/test_memory_model.py (its module docstring says where it comes from)",
              "kinds": len(kinds), "rows": []}
    name = args.name or f"memory_model_{device.type}"
    for batch in args.batch or [256]:
        for precision in args.precision or ["fp32", "bf16"]:
            accel = accels[precision]
            for members in kinds.values():
                start = time.perf_counter()
                predicted = predict(space, members, step_shape(data, batch, accel))
                predict_seconds = time.perf_counter() - start
                measured = measured_peak(space, members, data, batch, accel)
                row = {"precision": precision, "batch": batch,
                       "kind": "d{}_w{}_{}".format(*space.stack_key(members[0])), "models": len(members),
                       "predicted": predicted.peak, "measured": measured, "largest": predicted.largest,
                       "ratio": round(predicted.peak / measured, 4),
                       "gap_in_largest": round(abs(predicted.peak - measured) / predicted.largest, 3),
                       "within_tolerance": within_tolerance(predicted, measured),
                       "predict_seconds": round(predict_seconds, 2)}
                record["rows"].append(row)
                print(row, flush=True)
            record["summary"] = summary(record["rows"])
            record["load_average_end"] = load_average()
            record["environment"]["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
            save(name, record)  # after each (batch, precision): a run cut short keeps what it measured
    path = save(name, record)
    print(record["summary"], "->", path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
