"""How fast the engine searches the dc_convnet space, against the reference's way of training.

One process, one device, one run, after a warm-up of each loop (one small candidate, not timed):
  (a) reference: one candidate at a time, the reference's loop and schedule (``loops.reference_train``:
      DataLoader, two host syncs per batch, fp32, ``Epoch + 1`` epochs), then one pass over val;
  (a2) best single: one candidate at a time, the fastest plain loop (``loops.best_single_train``, the
      engine's speed settings and protocol), then one pass over val;
  (b) the engine: ``run_jobs`` over all candidates with the device's defaults (val and test are one set);
  (a) and (a2) are timed on ``--reference-sample`` candidates (all by default) and, when that is fewer
  than all, EXTRAPOLATED with ``seconds per epoch = a + b x FLOPs`` fitted on the sample. All three
  train on a fixed random 3x32x32 set of ``--images`` images (the proxy setting: 500), scored on as many.
  Speedups compare equal work: seconds per candidate-epoch (the reference's extra epoch included in
  its own count, not charged to it).
  (c) accuracy: the reference's loop and schedule against the engine's protocol on a random
      FashionMNIST ipc-50 proxy (``--data-root``; skipped, with the reason, when the data set is missing);
  (d) the ground truth's setting: ``--truth-images`` images, one epoch, engine against best single.
FLOPs are conv and matmul FLOPs (torch's FlopCounterMode) of training. Each rate is put beside the
machine's fp32 matmul rate measured in the same run (start and end; the best is the limit), and on a
GPU beside NVIDIA's dense peak for the precision of that work (fp32 work: TF32 when cuDNN may use it,
bf16 work: bf16), looked up by the device's name. The record is saved after every part.

GPU (the issue's setting):  python benchmarks/bench_search.py --accuracy-candidates 0 --truth-candidates 0
CPU (shrunk; the committed command is in benchmarks/results/README.md):
  python benchmarks/bench_search.py --device cpu --widths 32,64 --candidates 24 --epochs 2 ...
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from typing import Any

import torch
from bench_search_parts import (
    Record,
    accuracy_check,
    cpu_timed,
    layouts,
    random_set,
    single_arm,
    truth_throughput,
)
from benchlib import environment, table, timed
from loops import best_single_train, flops_per_image, reference_train
from machine import cpu_description, git_commit, gpu_peak, load_average, matmul_per_cpu_second, matmul_rate

from proxynas.engine import (
    Accel,
    Job,
    Protocol,
    default_stack_size,
    default_workers,
    resolve_device,
    run_jobs,
)
from proxynas.engine import seeded as build_seeded
from proxynas.errors import DataError
from search_spaces import get_space


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="auto")
    p.add_argument("--candidates", type=int, default=720, help="candidates of the space (a seeded sample)")
    p.add_argument("--widths", help="only these widths, e.g. 32,64 (to shrink a CPU run)")
    p.add_argument("--epochs", type=int, default=200)
    p.add_argument("--images", type=int, default=500, help="proxy images for (a), (a2) and (b)")
    p.add_argument("--reference-sample", type=int, default=24, help="candidates timed in (a) and (a2)")
    p.add_argument("--reference-epochs", type=int, help="epochs asked of (a) and (a2) (default: --epochs)")
    p.add_argument("--accuracy-candidates", type=int, default=12, help="candidates of (c); 0 skips it")
    p.add_argument("--accuracy-epochs", type=int, help="epochs of (c) (default: --epochs)")
    p.add_argument("--val-images", type=int, help="FashionMNIST val images in (c) (default: all)")
    p.add_argument("--data-root", help="where FashionMNIST is (default: proxynas's own search)")
    p.add_argument("--truth-candidates", type=int, default=15, help="candidates of (d); 0 skips it")
    p.add_argument("--truth-images", type=int, default=60000)
    p.add_argument("--no-reference-kept-memory", action="store_true",
                   help="CPU: do not time (a) a second time with freed memory kept (engine.cpu_memory)")
    p.add_argument("--peak-tflops-fp32", type=float, help="override the device's fp32/TF32 dense peak")
    p.add_argument("--peak-tflops-bf16", type=float, help="override the device's bf16 dense peak")
    p.add_argument("--stack", type=int, help="engine stack size (default: default_stack_size)")
    p.add_argument("--workers", type=int, help="engine stacks at once (default: default_workers)")
    p.add_argument("--compile", metavar="MODE", help="torch.compile the stacks in this mode (e.g. default, "
                                                     "reduce-overhead: CUDA graphs); one worker then")
    p.add_argument("--fp32", action="store_true", help="no bf16 autocast in the engine")
    p.add_argument("--no-channels-last", action="store_true", help="contiguous tensors only (no layout choice)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--name", help="result file benchmarks/results/NAME.json (default: search_<device type>)")
    return p.parse_args()


def pick(items: list[Any], k: int, seed: int) -> list[Any]:
    """``k`` of ``items`` drawn with ``seed`` (all of them, in order, when ``k`` >= their number)."""
    if k >= len(items):
        return list(items)
    return [items[i] for i in torch.randperm(len(items), generator=torch.Generator().manual_seed(seed))[:k]]


def measured_limits(device: torch.device) -> dict[str, float]:
    """The machine's matmul rate now, FLOP/s: fp32 on a CPU (all its threads; the best of two sizes),
    fp32 (TF32 as torch is set) and bf16 on a GPU."""
    if device.type == "cuda":
        return {"fp32": matmul_rate(8192, device=device)["best_flop_per_s"],
                "bf16": matmul_rate(8192, device=device, dtype=torch.bfloat16)["best_flop_per_s"]}
    return {"fp32": max(matmul_rate(n)["best_flop_per_s"] for n in (1024, 2048))}


def datasheet_peaks(device: torch.device, args: argparse.Namespace) -> dict[str, Any]:
    """Dense peaks in FLOP/s for fp32 work and bf16 work on a GPU (by its name, or the options)."""
    if device.type != "cuda":
        return {}
    name = torch.cuda.get_device_name(device)
    peak = gpu_peak(name)
    tf32 = torch.backends.cudnn.allow_tf32  # convolutions dominate; cuDNN runs fp32 ones in TF32 then
    fp32 = args.peak_tflops_fp32 or (peak and (peak.tf32 if tf32 else peak.fp32))
    bf16 = args.peak_tflops_bf16 or (peak and peak.bf16)
    return {"gpu": peak.name if peak else name, "fp32_kind": "tf32" if tf32 else "fp32",
            "fp32": fp32 * 1e12 if fp32 else None, "bf16": bf16 * 1e12 if bf16 else None,
            "source": "options" if args.peak_tflops_fp32 or args.peak_tflops_bf16 else "NVIDIA datasheet, dense"}


def rates(part: dict[str, Any], precision: str, limit: dict[str, float], peaks: dict[str, Any]) -> None:
    """Add to ``part`` its FLOP rate over the measured matmul rate (and the datasheet peak) of its precision."""
    part["precision"] = precision
    measured = limit.get(precision, limit["fp32"])
    part["over_measured_matmul"] = part["flop_per_s"] / measured
    if peaks.get(precision):
        part["utilization_of_datasheet_peak"] = part["flop_per_s"] / peaks[precision]


def main() -> None:
    args = parse_args()
    device = resolve_device(args.device)
    space = get_space("dc_convnet")
    widths = [int(w) for w in args.widths.split(",")] if args.widths else list(space.dimensions["width"])
    candidates = space.sample(args.candidates, seed=args.seed, width=widths)
    default = Accel.for_device(device)
    accel = replace(default, bf16=default.bf16 and not args.fp32, compile=args.compile,
                    channels_last=default.channels_last and not args.no_channels_last,
                    choose_layout=default.choose_layout and not args.no_channels_last)
    stack, workers = args.stack or default_stack_size(device), args.workers or default_workers(device)
    workers = 1 if accel.compile else workers
    shape, epochs, ref_epochs = (3, 32, 32), args.epochs, args.reference_epochs or args.epochs
    by_shape: dict[Any, tuple[float, float]] = {}  # activations and norms add no conv/matmul FLOPs
    for c in candidates:
        if space.stack_key(c) not in by_shape:
            by_shape[space.stack_key(c)] = flops_per_image(lambda c=c: space.build(c, shape, 10), shape)
    flops = {c.id: by_shape[space.stack_key(c)][0] for c in candidates}
    inference_flops = {c.id: by_shape[space.stack_key(c)][1] for c in candidates}
    record = Record(args.name or f"search_{device.type}",
                    {**environment(device), "cpu_model": cpu_description(), "git": git_commit(),
                     "load_average_start": load_average(), "candidates": args.candidates,
                     "widths": args.widths or "all", "epochs": epochs, "images": args.images})
    precision = "bf16" if accel.bf16 else "fp32"
    record.part("settings", {"engine": vars(accel) | {"stack": stack, "workers": workers, "precision": precision,
                                                      "threads_per_worker": max(1, torch.get_num_threads() // workers)
                                                      if device.type == "cpu" else None},
                             "reference": {"precision": "fp32", "threads": torch.get_num_threads(),
                                           "epochs_asked": ref_epochs}})
    peaks = datasheet_peaks(device, args)
    limit = measured_limits(device)
    record.part("limits_start", {"measured_matmul_flop_per_s": limit, "datasheet_peaks": peaks})

    proxy, val = random_set(args.images, args.seed, device), random_set(args.images, args.seed + 1, device)
    smallest = min(candidates, key=lambda c: flops[c.id])
    warm = Protocol(epochs=1, seed=args.seed)

    def build(c: Any = smallest) -> torch.nn.Module:
        return build_seeded(lambda: space.build(c, shape, 10), 0).to(device)

    # (a) first, in the process as the reference code has it: nothing of the engine has run yet
    warm_s, _ = timed(lambda: reference_train(build(), proxy, warm, 0), device)
    sample = pick(candidates, args.reference_sample, args.seed + 1)
    fp32 = Accel(compile=accel.compile)
    a = single_arm("reference", space, sample, flops, proxy, val, ref_epochs, args.seed, fp32)
    rates(a, "fp32", limit, peaks)
    record.part("a_reference", a)

    engine_warm_s, _ = timed(lambda: (
        list(run_jobs([Job(smallest, 0)], space, proxy, val, val, warm, accel=accel, workers=1)),
        best_single_train(build(), proxy, warm, 0, accel)), device)
    record.part("warm_up", {"candidate": smallest.id, "reference_seconds": warm_s, "engine_seconds": engine_warm_s,
                            "cpu_freed_memory_kept_from_here": device.type == "cpu"})
    chosen = layouts(space, candidates, proxy, val, Protocol(epochs=epochs, seed=args.seed), accel)
    record.part("layouts", chosen)
    if device.type == "cpu" and not args.no_reference_kept_memory:
        # (a) again, now that the engine has set this process to keep freed memory (engine.cpu_memory):
        # how much of the engine's lead is that setting, which any loop in the process then shares
        a_kept = single_arm("reference", space, sample, flops, proxy, val, ref_epochs, args.seed, fp32)
        rates(a_kept, "fp32", limit, peaks)
        record.part("a_reference_freed_memory_kept", a_kept)
    layout_of = {cid: v == "channels_last" for cid, v in chosen["per_candidate"].items()}
    a2 = single_arm("best_single", space, sample, flops, proxy, val, ref_epochs, args.seed, accel, layout_of)
    rates(a2, precision, limit, peaks)
    record.part("a2_best_single", a2)

    jobs = [Job(c, args.seed) for c in candidates]
    before_b = measured_limits(device)
    b_seconds, b_cpu, outcomes = cpu_timed(lambda: list(run_jobs(
        jobs, space, proxy, val, val, Protocol(epochs=epochs, seed=args.seed), max_models=stack,
        accel=accel, workers=workers)), device)
    after_b = measured_limits(device)
    work = sum(flops.values()) * epochs * args.images
    b = {"seconds": b_seconds, "cpu_seconds": b_cpu, "epochs_trained": epochs,
         "candidate_epochs_per_s": len(jobs) * epochs / b_seconds, "flop_per_s": work / b_seconds,
         "flop_per_cpu_s": work / b_cpu, "failed": sum(o.status != "done" for o in outcomes),
         "matmul_just_before_and_after": [before_b, after_b]}
    rates(b, precision, limit, peaks)
    adjacent = {k: (before_b[k] + after_b[k]) / 2 for k in before_b}
    b["over_matmul_measured_around_it"] = b["flop_per_s"] / adjacent.get(precision, adjacent["fp32"])
    # the headline counts training FLOPs only, as for (a) and (a2); the engine also scores every model
    # once on val (= test): with that forward pass counted, the work it did per second
    evaluation = sum(inference_flops.values()) * len(val)
    b["flop_per_s_with_evaluation"] = (work + evaluation) / b_seconds
    b["with_evaluation_over_matmul_measured_around_it"] = (
        b["flop_per_s_with_evaluation"] / adjacent.get(precision, adjacent["fp32"]))
    if device.type == "cpu":  # load-robust: FLOPs per CPU-second against one core's matmul per CPU-second
        one_core = matmul_per_cpu_second()
        b["matmul_flop_per_cpu_s_one_thread"] = one_core
        b["per_cpu_second_over_matmul"] = b["flop_per_cpu_s"] / one_core
    b["speedup_over_reference"] = b["candidate_epochs_per_s"] / a["candidate_epochs_per_s"]
    b["speedup_over_best_single"] = b["candidate_epochs_per_s"] / a2["candidate_epochs_per_s"]
    b["reference_schedule_seconds"] = a["seconds_per_epoch_all_candidates"] * a["epochs_trained"]
    if "a_reference_freed_memory_kept" in record.data:
        b["speedup_over_reference_freed_memory_kept"] = (
            b["candidate_epochs_per_s"] / record.data["a_reference_freed_memory_kept"]["candidate_epochs_per_s"])
    record.part("b_engine", b)

    if args.accuracy_candidates:
        try:
            record.part("c_accuracy", accuracy_check(
                space, pick(candidates, args.accuracy_candidates, args.seed + 2), device, accel, stack, workers,
                args.accuracy_epochs or epochs, args.seed, args.data_root, args.val_images))
        except DataError as err:
            record.skip("c_accuracy", str(err))
    if args.truth_candidates:
        chosen = space.candidates(**{k: space.default()[k] for k in ("depth", "width", "pool")})
        chosen = chosen[:args.truth_candidates]
        truth_layouts = layouts(space, chosen, proxy, val, Protocol(epochs=1, seed=args.seed), accel)  # before timing
        record.part("d_truth", truth_throughput(
            space, chosen, device, accel, stack, workers, args.truth_images, args.seed,
            {cid: v == "channels_last" for cid, v in truth_layouts["per_candidate"].items()}) | {
            "layouts": truth_layouts})
    end = measured_limits(device)
    best = {k: max(v, end[k]) for k, v in limit.items()}
    for part in (a, a2, b, record.data.get("a_reference_freed_memory_kept")):
        if part is not None:
            rates(part, part["precision"], best, peaks)
    record.data.update(load_average_end=load_average())
    record.part("limits_end", {"measured_matmul_flop_per_s": end, "limit_used_flop_per_s": best})
    print(summary(record.data, args))
    print(f"saved {record.save()}")


def summary(r: dict[str, Any], args: argparse.Namespace) -> str:
    a, a2, b = r["a_reference"], r["a2_best_single"], r["b_engine"]
    limit = r["limits_end"]["limit_used_flop_per_s"]
    rows = [("device", f"{r['device']} ({r['cpu_model']['model']})"), ("torch", r["torch"]),
            ("workload", f"{args.candidates} candidates x {args.epochs} epochs, {args.images} images"),
            ("engine settings", str(r["settings"]["engine"])),
            ("engine layouts", f"{sum(v == 'channels_last' for v in r['layouts']['per_candidate'].values())} of "
                               f"{len(r['layouts']['per_candidate'])} channels_last (decided in "
                               f"{r['layouts']['seconds']:.1f} s before timing)"),
            ("(a) reference, s/cand-epoch", f"{1 / a['candidate_epochs_per_s']:.3f}"
                                            + (" (extrapolated)" if a["extrapolated"] else "")),
            ("(a2) best single, s/cand-epoch", f"{1 / a2['candidate_epochs_per_s']:.3f}"),
            ("(b) engine, s/cand-epoch", f"{1 / b['candidate_epochs_per_s']:.3f} ({b['seconds']:.1f} s in all)"),
            ("speedup b/a, b/a2", f"{b['speedup_over_reference']:.2f}x, {b['speedup_over_best_single']:.2f}x"),
            *([("speedup b / a with freed memory kept", f"{b['speedup_over_reference_freed_memory_kept']:.2f}x")]
              if "speedup_over_reference_freed_memory_kept" in b else []),
            ("GFLOP/s a / a2 / b", f"{a['flop_per_s'] / 1e9:.1f} / {a2['flop_per_s'] / 1e9:.1f} / "
                                   f"{b['flop_per_s'] / 1e9:.1f}"),
            ("measured matmul GFLOP/s", ", ".join(f"{k} {v / 1e9:.1f}" for k, v in limit.items())),
            ("rate / matmul a / a2 / b", f"{a['over_measured_matmul']:.1%} / {a2['over_measured_matmul']:.1%} / "
                                         f"{b['over_measured_matmul']:.1%} (the best matmul of the run)"),
            ("b / matmul measured around b", f"{b['over_matmul_measured_around_it']:.1%}"),
            ("b with its evaluation FLOPs / matmul around b",
             f"{b['with_evaluation_over_matmul_measured_around_it']:.1%}")]
    if "per_cpu_second_over_matmul" in b:
        rows.append(("b per CPU-second / matmul per CPU-s", f"{b['flop_per_cpu_s'] / 1e9:.1f} / "
                     f"{b['matmul_flop_per_cpu_s_one_thread'] / 1e9:.1f} GFLOP = "
                     f"{b['per_cpu_second_over_matmul']:.1%}"))
    if "utilization_of_datasheet_peak" in b:
        rows.append(("of datasheet peak a / a2 / b", " / ".join(
            f"{p['utilization_of_datasheet_peak']:.1%}" for p in (a, a2, b))))
    if "c_accuracy" in r:
        c = r["c_accuracy"]
        rows.append(("(c) mean val acc a / b", f"{c['mean_val_acc_reference']:.4f} / {c['mean_val_acc_engine']:.4f} "
                                               f"(mean |gap| {c['mean_abs_gap']:.4f})"))
    if "d_truth" in r:
        d = r["d_truth"]
        rows.append(("(d) truth images/s engine / single",
                     f"{d['engine_images_per_s']:.0f} / {d['best_single_images_per_s']:.0f} "
                     f"({d['engine_over_single']:.2f}x)"))
    rows += [(f"({k}) skipped", v) for k, v in r.get("skipped", {}).items()]
    return table(rows)


if __name__ == "__main__":
    main()
