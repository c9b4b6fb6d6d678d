"""Where a CPU training step's time goes, for the dc_convnet candidates that dominate a search's cost.

Per candidate (batch 256 of 3x32x32 images, the protocol's SGD), contiguous and channels_last
side by side, ``--repeat`` times interleaved:
  - one step timed part by part: data (gather a batch), forward (+ loss), backward, optimizer;
  - one profiled forward + backward (torch.profiler): self CPU time by kind of op (convolutions, norms,
    activations, pooling, the classifier, the loss, layout copies, indexing);
  - evaluation: 1,000 images (val + test of the benchmark) in chunks of 2,048 (the engine's) and 256;
then, for a few candidates: threads (one model on 1 or 2 intra-op threads, two models side by side
on one thread each), the optimizer's variants (for-loop, foreach, fused: time and agreement), and
single layers in both layouts. The fp32 matmul rate (1 and 2 threads) is measured at the start,
the middle and the end of the same run, so each ratio has its limit beside it.

    python benchmarks/profile_cpu.py --repeat 3 --name profile_cpu
"""

from __future__ import annotations

import argparse
import statistics
from typing import Any

import torch
from benchlib import environment, save
from loops import flops_per_image
from machine import cpu_description, git_commit, load_average, matmul_rate
from profile_parts import (
    StepTimer,
    allocator_compare,
    layer_times,
    median_parts,
    optimizer_variants,
    thread_layouts,
)

from proxynas.engine.cpu_memory import keep_freed_memory
from search_spaces import get_space

# The benchmark's sample (24 of widths 32/64, seed 0): the top by FLOPs (57% of them in the first
# three), one of each common pooled shape (most of the count), and the DC paper's default ConvNet.
CANDIDATES = ("d3_w64_leakyrelu_batchnorm_none,d3_w64_leakyrelu_layernorm_none,d2_w64_sigmoid_instancenorm_none,"
              "d3_w32_relu_groupnorm_none,d3_w64_relu_batchnorm_maxpool,d2_w64_relu_layernorm_avgpool,"
              "d4_w32_relu_groupnorm_maxpool,d1_w32_relu_batchnorm_avgpool,d3_w128_relu_instancenorm_avgpool")
LAYOUTS = (("contiguous", False), ("channels_last", True))


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--candidates", default=CANDIDATES, help="comma-separated dc_convnet ids")
    p.add_argument("--repeat", type=int, default=3, help="timed steps per candidate and layout (interleaved)")
    p.add_argument("--threads-candidates", default="d3_w64_leakyrelu_batchnorm_none,d2_w64_relu_layernorm_avgpool,"
                                                    "d1_w32_relu_batchnorm_avgpool")
    p.add_argument("--threads-steps", type=int, default=3)
    p.add_argument("--allocator-candidates", default="d3_w64_leakyrelu_batchnorm_none,d2_w64_relu_layernorm_avgpool")
    p.add_argument("--glibc-default", action="store_true",
                   help="profile with glibc's default allocation (default: freed memory kept, as the engine)")
    p.add_argument("--layers", default="64x32,128x16", help="CHANNELSxSIZE shapes for the single layers")
    p.add_argument("--name", default="profile_cpu")
    return p.parse_args()


def matmul_both() -> dict[str, float]:
    threads, out = torch.get_num_threads(), {}
    try:
        for n in (1, 2):
            torch.set_num_threads(n)
            out[f"gflop_per_s_{n}_threads"] = matmul_rate(1024)["best_flop_per_s"] / 1e9
    finally:
        torch.set_num_threads(threads)
    return out


def profile_candidate(cid: str, images: torch.Tensor, labels: torch.Tensor, repeat: int) -> dict[str, Any]:
    space = get_space("dc_convnet")
    train_flops = flops_per_image(lambda: space.build(space.parse(cid), (3, 32, 32), 10), (3, 32, 32))[0]
    timers = {name: StepTimer(cid, cl, images[:500], labels[:500], 256) for name, cl in LAYOUTS}
    for t in timers.values():
        t.step()  # warm-up
    samples: dict[str, list[dict[str, float]]] = {name: [] for name in timers}
    evals: dict[str, list[dict[str, float]]] = {name: [] for name in timers}
    for _ in range(repeat):
        for name, t in timers.items():
            samples[name].append(t.step())
            evals[name].append({"batch_2048": t.evaluate(images, 2048), "batch_256": t.evaluate(images, 256)})
    out: dict[str, Any] = {"train_mflop_per_image": train_flops / 1e6}
    for name, t in timers.items():
        parts = median_parts(samples[name])
        kinds, profiled_wall = t.kinds()
        ev = median_parts(evals[name])
        out[name] = {"parts_s": parts, "spread_step_s": [min(s["step"] for s in samples[name]),
                                                         max(s["step"] for s in samples[name])],
                     "gflop_per_s": train_flops * 256 / parts["step"] / 1e9,
                     "profile_self_s": kinds, "profiled_forward_backward_s": profiled_wall,
                     "eval_1000_images_s": ev,
                     "eval_over_train_epoch": ev["batch_2048"] / (parts["step"] * 500 / 256)}
    out["channels_last_speedup"] = out["contiguous"]["parts_s"]["step"] / out["channels_last"]["parts_s"]["step"]
    return out


def main() -> None:
    args = parse_args()
    torch.set_num_threads(1)  # the engine's CPU workers train on one intra-op thread each
    g = torch.Generator().manual_seed(0)
    images, labels = torch.randn(1000, 3, 32, 32, generator=g), torch.randint(0, 10, (1000,), generator=g)
    record: dict[str, Any] = {**environment(torch.device("cpu")), "cpu_model": cpu_description(),
                              "git": git_commit(), "load_average_start": load_average(),
                              "matmul": {"start": matmul_both()}, "candidates": {}}
    record["allocator"] = {}
    for cid in filter(None, args.allocator_candidates.split(",")):
        record["allocator"][cid] = r = allocator_compare(cid, 2, args.repeat)
        print(f"allocator {cid}: " + "; ".join(
            f"{k}: wall {statistics.median(x['step'] for x in v):.2f} s, system "
            f"{statistics.median(x['cpu_system'] for x in v):.2f} s, "
            f"{statistics.median(x['page_faults'] for x in v):.0f} page faults" for k, v in r.items()), flush=True)
    record["freed_memory_kept"] = not args.glibc_default and keep_freed_memory()
    ids = args.candidates.split(",")
    for i, cid in enumerate(ids):
        record["candidates"][cid] = r = profile_candidate(cid, images, labels, args.repeat)
        c, cl = r["contiguous"], r["channels_last"]
        print(f"{cid}: step {c['parts_s']['step'] * 1e3:.0f} / {cl['parts_s']['step'] * 1e3:.0f} ms "
              f"(contiguous / channels_last, {r['channels_last_speedup']:.2f}x), "
              f"{c['gflop_per_s']:.1f} / {cl['gflop_per_s']:.1f} GFLOP/s, eval/epoch {c['eval_over_train_epoch']:.2f}",
              flush=True)
        if i == len(ids) // 2:
            record["matmul"]["middle"] = matmul_both()
    best = {cid: "channels_last" if r["channels_last_speedup"] > 1 else "contiguous"
            for cid, r in record["candidates"].items()}
    record["threads"] = {cid: thread_layouts(cid, images, labels, 256, args.threads_steps, best[cid])
                         for cid in args.threads_candidates.split(",")}
    for cid, r in record["threads"].items():
        print(f"threads {cid} ({best[cid]}): " + ", ".join(f"{k} {v:.2f} steps/s" for k, v in r.items()), flush=True)
    record["optimizer"] = {cid: optimizer_variants(cid, 20) for cid in (ids[0], ids[-2])}
    print("optimizer", record["optimizer"], flush=True)
    record["layers"] = {}
    for shape in args.layers.split(","):
        c, s = (int(v) for v in shape.split("x"))
        record["layers"][shape] = layer_times(256, c, s, args.repeat)
        print(f"layers {shape}: " + ", ".join(f"{k} {v['channels_last_speedup']:.2f}x"
                                              for k, v in record["layers"][shape].items()), flush=True)
    record["matmul"]["end"] = matmul_both()
    record["load_average_end"] = load_average()
    rates = [m["gflop_per_s_1_threads"] for m in record["matmul"].values()]
    record["matmul"]["gflop_per_s_1_thread_median"] = statistics.median(rates)
    print(f"matmul 1 thread GFLOP/s: {', '.join(f'{r:.0f}' for r in rates)}")
    print(f"saved {save(args.name, record)}")


if __name__ == "__main__":
    main()
