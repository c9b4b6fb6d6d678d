"""How fast the engine searches the dc_convnet space, against the reference's way of training.

One process, one device, one run:
  (a) reference-style: one candidate at a time, DataLoader, a host sync per batch, fp32
      (``loops.reference_train``), timed on ``--reference-sample`` candidates for ``--reference-epochs``
      epochs and EXTRAPOLATED to all candidates x ``--epochs`` (seconds per epoch = a + b x FLOPs,
      fitted on the sample: ``time_model``);
  (b) the engine: ``run_jobs`` over all candidates (grouped stacks, the device's defaults);
  both on a fixed random 3x32x32 tensor set of ``--images`` images (timing only), scored on as many.
  (c) the mean validation accuracy of (a) and (b) on a real proxy: a random FashionMNIST ipc-50 set
      (500 images), the same ``--accuracy-candidates`` candidates and seeds: batching changes no result;
  (d) the ground truth's throughput: ``--truth-candidates`` candidates for one epoch on
      ``--truth-images`` images, the engine against ``loops.best_single_train`` one network at a time.
FLOPs are conv and matmul FLOPs counted by torch's FlopCounterMode per candidate; utilization is
against ``--peak-tflops`` (the device's dense peak for the precision used: bf16 on CUDA by default).

GPU (the issue's setting):  python benchmarks/bench_search.py --peak-tflops 989
CPU (shrunk: see benchmarks/results/README.md):  python benchmarks/bench_search.py --device cpu --widths 32,64 ...
"""

from __future__ import annotations

import argparse
import statistics
from typing import Any

import torch
from benchlib import environment, save, table, timed
from loops import best_single_train, flops_per_image, reference_accuracy, reference_train

from condensed import get_method
from condensed.base import Context
from proxynas.datasets import dataset_info, load_dataset
from proxynas.datasets.base import TensorSet
from proxynas.engine import (
    Accel,
    EpochEnd,
    Job,
    Protocol,
    default_stack_size,
    default_workers,
    resolve_device,
    run_jobs,
    seeded,
)
from search_spaces import get_space

FASHION = "/usr/share/datasets/fashion-mnist"


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="auto")
    p.add_argument("--candidates", type=int, default=720, help="candidates of the space (a seeded sample)")
    p.add_argument("--widths", help="only these widths, e.g. 32,64 (to shrink a CPU run)")
    p.add_argument("--epochs", type=int, default=200)
    p.add_argument("--images", type=int, default=500, help="proxy images for (a) and (b)")
    p.add_argument("--reference-sample", type=int, default=24, help="candidates timed in (a)")
    p.add_argument("--reference-epochs", type=int, default=20, help="epochs timed in (a)")
    p.add_argument("--accuracy-candidates", type=int, default=12, help="candidates of (c); 0 skips it")
    p.add_argument("--accuracy-epochs", type=int, help="epochs of (c) (default: --epochs)")
    p.add_argument("--val-images", type=int, help="FashionMNIST val images in (c) (default: all)")
    p.add_argument("--truth-candidates", type=int, default=15, help="candidates of (d); 0 skips it")
    p.add_argument("--truth-images", type=int, default=60000)
    p.add_argument("--peak-tflops", type=float, help="the device's peak, for the utilization")
    p.add_argument("--stack", type=int, help="engine stack size (default: default_stack_size)")
    p.add_argument("--workers", type=int, help="engine stacks at once (default: default_workers)")
    p.add_argument("--compile", metavar="MODE", help="torch.compile the stacks in this mode (e.g. default, "
                                                     "reduce-overhead: CUDA graphs); one worker then")
    p.add_argument("--fp32", action="store_true", help="no bf16 autocast in the engine")
    p.add_argument("--no-channels-last", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--name", help="result file benchmarks/results/NAME.json (default: search_<device type>)")
    return p.parse_args()


def pick(items: list[Any], k: int, seed: int) -> list[Any]:
    """``k`` of ``items`` drawn with ``seed`` (all of them, in order, when ``k`` >= their number)."""
    if k >= len(items):
        return list(items)
    return [items[i] for i in torch.randperm(len(items), generator=torch.Generator().manual_seed(seed))[:k]]


def time_model(flops: list[float], seconds: list[float]) -> tuple[float, float]:
    """(a, b) of seconds-per-epoch = a + b * (training FLOPs of one image), least squares, a and b >= 0:
    a fixed cost per epoch (launches, host syncs) and a cost per FLOP; a sample of candidates with
    all sizes predicts the rest better than its mean does (the costs are heavy-tailed)."""
    x, y = torch.tensor(flops, dtype=torch.float64), torch.tensor(seconds, dtype=torch.float64)
    if len(x) >= 2 and float(x.std()) > 0:
        b = float(((x - x.mean()) * (y - y.mean())).sum() / ((x - x.mean()) ** 2).sum())
        a = float(y.mean() - b * x.mean())
        if a >= 0 and b >= 0:
            return a, b
    return 0.0, float(y.sum() / x.sum())  # all cost per FLOP


def random_set(n: int, seed: int, device: torch.device) -> TensorSet:
    g = torch.Generator().manual_seed(seed)
    images, labels = torch.randn(n, 3, 32, 32, generator=g), torch.randint(0, 10, (n,), generator=g)
    return TensorSet(images, labels, 10).to(device)


def memory_mark(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def peak_memory_gib(device: torch.device) -> float | None:
    return torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None


def run(args: argparse.Namespace, device: torch.device) -> dict[str, Any]:
    space = get_space("dc_convnet")
    widths = [int(w) for w in args.widths.split(",")] if args.widths else list(space.dimensions["width"])
    candidates = space.sample(args.candidates, seed=args.seed, width=widths)
    accel = Accel.for_device(device)
    accel = Accel(bf16=accel.bf16 and not args.fp32, fused_sgd=accel.fused_sgd, compile=args.compile,
                  channels_last=accel.channels_last and not args.no_channels_last)
    stack, workers = args.stack or default_stack_size(device), args.workers or default_workers(device)
    shape = (3, 32, 32)
    by_shape: dict[Any, tuple[float, float]] = {}  # activations and norms add no conv/matmul FLOPs
    for c in candidates:
        if space.stack_key(c) not in by_shape:
            by_shape[space.stack_key(c)] = flops_per_image(lambda c=c: space.build(c, shape, 10), shape)
    flops = {c.id: by_shape[space.stack_key(c)] for c in candidates}
    proxy, val = random_set(args.images, args.seed, device), random_set(args.images, args.seed + 1, device)
    out: dict[str, Any] = {"accel": vars(accel) | {"stack": stack, "workers": workers}}

    # (a) reference-style, on a sample, extrapolated
    sample = pick(candidates, args.reference_sample, args.seed + 1)
    ref_protocol = Protocol(epochs=args.reference_epochs, seed=args.seed)
    memory_mark(device)
    per_candidate = []
    for c in sample:
        model = seeded(lambda c=c: space.build(c, shape, 10), args.seed).to(device)
        seconds, _ = timed(lambda m=model: (reference_train(m, proxy, ref_protocol, args.seed),
                                            reference_accuracy(m, val)), device)
        per_candidate.append(seconds / args.reference_epochs)
        print(f"(a) {c.id}: {seconds:.2f} s for {args.reference_epochs} epochs", flush=True)
    overhead, per_flop = time_model([flops[c.id][0] for c in sample], per_candidate)
    a_seconds = sum(overhead + per_flop * flops[c.id][0] for c in candidates) * args.epochs
    a_flops = sum(flops[c.id][0] for c in candidates) * args.epochs * args.images
    out["a_reference"] = {"timed_candidates": len(sample), "timed_epochs": args.reference_epochs,
                          "extrapolated_seconds": a_seconds, "peak_memory_gib": peak_memory_gib(device),
                          "time_model": {"seconds_per_epoch": overhead, "seconds_per_image_flop": per_flop},
                          "timed_seconds_per_epoch": dict(zip([c.id for c in sample], per_candidate, strict=True)),
                          "candidate_epochs_per_s": len(candidates) * args.epochs / a_seconds,
                          "flop_per_s": a_flops / a_seconds}

    # (b) the engine, every candidate
    jobs = [Job(c, args.seed) for c in candidates]
    done = 0

    def progress(end: EpochEnd) -> None:
        nonlocal done
        done += len(end.jobs)
        if done % max(1, len(jobs) * args.epochs // 20) < len(end.jobs):
            print(f"(b) {done / (len(jobs) * args.epochs):.0%}", flush=True)

    memory_mark(device)
    b_seconds, outcomes = timed(lambda: list(run_jobs(
        jobs, space, proxy, val, val, Protocol(epochs=args.epochs, seed=args.seed), max_models=stack,
        accel=accel, workers=workers, on_epoch=progress)), device)
    b_flops = sum(flops[c.id][0] for c in candidates) * args.epochs * args.images
    out["b_engine"] = {"seconds": b_seconds, "peak_memory_gib": peak_memory_gib(device),
                       "candidate_epochs_per_s": len(jobs) * args.epochs / b_seconds,
                       "flop_per_s": b_flops / b_seconds, "failed": sum(o.status != "done" for o in outcomes)}
    out["speedup_b_over_a"] = a_seconds / b_seconds
    if args.peak_tflops:
        for part in ("a_reference", "b_engine"):
            out[part]["utilization"] = out[part]["flop_per_s"] / (args.peak_tflops * 1e12)
    if args.accuracy_candidates:
        out["c_accuracy"] = accuracy_check(args, space, candidates, device, accel, stack, workers)
    if args.truth_candidates:
        out["d_truth"] = truth_throughput(args, space, device, accel, stack, workers)
    return out


def accuracy_check(args: argparse.Namespace, space: Any, candidates: list[Any], device: torch.device,
                   accel: Accel, stack: int, workers: int) -> dict[str, Any]:
    """(c): reference-style and engine training of the same candidates on a random FashionMNIST ipc-50."""
    splits = load_dataset("fashion_mnist", FASHION)
    random = get_method("random")
    context = Context(dataset_info("fashion_mnist"), torch.device("cpu"), seed=args.seed)
    proxy = random.condense(splits.train, 50, random.settings(), context).to(device)
    val = splits.val if args.val_images is None else splits.val.subset(torch.arange(args.val_images))
    val = val.to(device)
    chosen = pick(candidates, args.accuracy_candidates, args.seed + 2)
    protocol = Protocol(epochs=args.accuracy_epochs or args.epochs, seed=args.seed)
    reference = []
    for c in chosen:
        model = seeded(lambda c=c: space.build(c, proxy.shape, 10), args.seed).to(device)
        reference_train(model, proxy, protocol, args.seed)
        reference.append(reference_accuracy(model, val))
        print(f"(c) reference {c.id}: {reference[-1]:.4f}", flush=True)
    outcomes = list(run_jobs([Job(c, args.seed) for c in chosen], space, proxy, val, val, protocol,
                             max_models=stack, accel=accel, workers=workers))
    engine = {o.job.candidate.id: o.val_acc for o in outcomes}
    pairs = [(c.id, ref, engine[c.id]) for c, ref in zip(chosen, reference, strict=True)]
    done = [(r, e) for _, r, e in pairs if e is not None]
    return {"proxy": "random_fashion_mnist_ipc50", "epochs": protocol.epochs, "val_images": len(val),
            "mean_val_acc_reference": statistics.fmean(r for r, _ in done),
            "mean_val_acc_engine": statistics.fmean(e for _, e in done),
            "mean_abs_gap": statistics.fmean(abs(r - e) for r, e in done),
            "per_candidate": [{"candidate": i, "reference": r, "engine": e} for i, r, e in pairs]}


def truth_throughput(args: argparse.Namespace, space: Any, device: torch.device, accel: Accel, stack: int,
                     workers: int) -> dict[str, Any]:
    """(d): one epoch on ``--truth-images`` images: the engine against the best single-network loop,
    on candidates of the default ConvNet's shape (the ground truth trains every shape's 15 together)."""
    chosen = space.candidates(**{k: space.default()[k] for k in ("depth", "width", "pool")})
    chosen = chosen[:args.truth_candidates]
    data = random_set(args.truth_images, args.seed + 4, device)
    protocol = Protocol(epochs=1, seed=args.seed)
    tiny = random_set(2, args.seed + 5, device)
    memory_mark(device)
    jobs = [Job(c, args.seed) for c in chosen]
    engine_s, _ = timed(lambda: list(run_jobs(jobs, space, data, tiny, tiny, protocol, max_models=stack,
                                              accel=accel, workers=workers)), device)
    single_s = 0.0
    for c in chosen:
        model = seeded(lambda c=c: space.build(c, data.shape, 10), args.seed).to(device)
        seconds, _ = timed(lambda m=model: best_single_train(m, data, protocol, args.seed, accel), device)
        single_s += seconds
    images = len(chosen) * len(data)
    return {"candidates": len(chosen), "images": len(data), "engine_images_per_s": images / engine_s,
            "best_single_images_per_s": images / single_s, "engine_over_single": single_s / engine_s,
            "peak_memory_gib": peak_memory_gib(device)}


def main() -> None:
    args = parse_args()
    device = resolve_device(args.device)
    figures = run(args, device)
    record = {**environment(device), "candidates": args.candidates, "widths": args.widths or "all",
              "epochs": args.epochs, "images": args.images, **figures}
    a, b = figures["a_reference"], figures["b_engine"]
    rows = [("device", record["device"]), ("torch", record["torch"]),
            ("workload", f"{args.candidates} candidates x {args.epochs} epochs, {args.images} images"),
            ("(a) reference, s", f"{a['extrapolated_seconds']:.1f} (extrapolated from "
                                 f"{a['timed_candidates']} candidates x {a['timed_epochs']} epochs, "
                                 "seconds = a + b x FLOPs)"),
            ("(b) engine, s", f"{b['seconds']:.1f}"),
            ("cand-epochs/s a / b", f"{a['candidate_epochs_per_s']:.2f} / {b['candidate_epochs_per_s']:.2f}"),
            ("speedup b/a", f"{figures['speedup_b_over_a']:.1f}x"),
            ("TFLOP/s a / b", f"{a['flop_per_s'] / 1e12:.3f} / {b['flop_per_s'] / 1e12:.3f}")]
    if "utilization" in b:
        rows.append(("utilization a / b", f"{a['utilization']:.1%} / {b['utilization']:.1%}"))
    if b["peak_memory_gib"] is not None:
        rows.append(("peak GPU memory a / b, GiB",
                     f"{a['peak_memory_gib']:.2f} / {b['peak_memory_gib']:.2f}"))
    if "c_accuracy" in figures:
        c = figures["c_accuracy"]
        rows.append(("(c) mean val acc a / b",
                     f"{c['mean_val_acc_reference']:.4f} / {c['mean_val_acc_engine']:.4f} (mean |gap| "
                     f"{c['mean_abs_gap']:.4f}, {len(c['per_candidate'])} candidates, {c['epochs']} epochs)"))
    if "d_truth" in figures:
        d = figures["d_truth"]
        rows.append(("(d) truth images/s engine / single",
                     f"{d['engine_images_per_s']:.0f} / {d['best_single_images_per_s']:.0f} "
                     f"({d['engine_over_single']:.2f}x, {d['candidates']} candidates, {d['images']} images)"))
    print(table(rows))
    print(f"saved {save(args.name or f'search_{device.type}', record)}")


if __name__ == "__main__":
    main()
