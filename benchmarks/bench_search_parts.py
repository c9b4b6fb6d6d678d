"""The parts of ``bench_search.py`` that train: the single-network arms on the proxy setting, the
accuracy check on a real proxy and the ground truth's throughput; and the record saved part by part."""

from __future__ import annotations

import resource
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from benchlib import save
from loops import (
    best_single_accuracy,
    best_single_train,
    reference_accuracy,
    reference_lrs,
    reference_train,
)

from condensed import get_method
from condensed.base import Context
from proxynas.datasets import dataset_info, load_dataset
from proxynas.datasets.base import TensorSet
from proxynas.engine import Accel, Job, Protocol, TrainingTask, run_jobs, seeded
from proxynas.paths import home
from search_spaces.base import Candidate, SearchSpace


@dataclass
class Record:
    """The result file, written again after every part: a killed run keeps the parts it finished."""

    name: str
    data: dict[str, Any] = field(default_factory=dict)

    def part(self, key: str, value: Any) -> None:
        self.data[key] = value
        self.data.setdefault("parts_done", []).append(key)
        self.save()

    def skip(self, key: str, reason: str) -> None:
        self.data.setdefault("skipped", {})[key] = reason
        print(f"({key}) skipped: {reason}", flush=True)
        self.save()

    def save(self) -> Path:
        return save(self.name, self.data)


def random_set(n: int, seed: int, device: torch.device, shape: tuple[int, int, int] = (3, 32, 32)) -> TensorSet:
    g = torch.Generator().manual_seed(seed)
    images, labels = torch.randn(n, *shape, generator=g), torch.randint(0, 10, (n,), generator=g)
    return TensorSet(images, labels, 10).to(device)


def cpu_timed(run: Callable[[], Any], device: torch.device) -> tuple[float, float, Any]:
    """(wall seconds, CPU seconds of this process (user + system, all threads), result) of ``run()``,
    the device drained before and after. CPU seconds count what the run itself computed, so other
    processes' load on a shared machine moves them far less than the wall time."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    before, start = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    result = run()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    wall, after = time.perf_counter() - start, resource.getrusage(resource.RUSAGE_SELF)
    return wall, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime, result


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


def single_arm(kind: str, space: SearchSpace, sample: Sequence[Candidate], all_flops: dict[str, float],
               proxy: TensorSet, val: TensorSet, epochs: int, seed: int, accel: Accel,
               channels_last: dict[str, bool] | None = None) -> dict[str, Any]:
    """One candidate at a time on the proxy: ``kind`` "reference" (the reference's loop and schedule:
    ``epochs + 1`` epochs, fp32) or "best_single" (``best_single_train``, ``epochs`` epochs, ``accel``,
    each model in the layout of ``channels_last``), each followed by one pass over ``val``; per-epoch
    seconds fitted to FLOPs to cover all candidates."""
    device = proxy.device
    trained = len(reference_lrs(epochs, 1.0)) if kind == "reference" else epochs
    protocol = Protocol(epochs=epochs, seed=seed)
    per_epoch: dict[str, float] = {}
    cpu_s = wall_s = 0.0
    for c in sample:
        model = seeded(lambda c=c: space.build(c, proxy.shape, 10), seed).to(device)
        if channels_last and channels_last.get(c.id):
            model = model.to(memory_format=torch.channels_last)
        if kind == "reference":
            run: Callable[[], Any] = lambda m=model: (reference_train(m, proxy, protocol, seed),  # noqa: E731
                                                     reference_accuracy(m, val))
        else:
            run = lambda m=model: (best_single_train(m, proxy, protocol, seed, accel),  # noqa: E731
                                   best_single_accuracy(m, val, accel))
        seconds, cpu, _ = cpu_timed(run, device)
        wall_s, cpu_s = wall_s + seconds, cpu_s + cpu
        per_epoch[c.id] = seconds / trained
        print(f"({kind}) {c.id}: {seconds:.2f} s for {trained} epochs", flush=True)
    overhead, per_flop = time_model([all_flops[c.id] for c in sample], list(per_epoch.values()))
    complete = len(sample) == len(all_flops)
    seconds_per_epoch_all = (sum(per_epoch.values()) if complete
                             else sum(overhead + per_flop * f for f in all_flops.values()))
    return {"loop": kind, "timed_candidates": len(sample), "epochs_trained": trained,
            "extrapolated": not complete, "accel": vars(accel) if kind != "reference" else "fp32, as the reference",
            "time_model": {"seconds_per_epoch": overhead, "seconds_per_image_flop": per_flop},
            "timed_seconds_per_epoch": per_epoch,
            "seconds_per_epoch_all_candidates": seconds_per_epoch_all,
            "candidate_epochs_per_s": len(all_flops) / seconds_per_epoch_all,
            "flop_per_s": sum(all_flops.values()) * len(proxy) / seconds_per_epoch_all,
            "timed_wall_seconds": wall_s, "timed_cpu_seconds": cpu_s,
            "flop_per_cpu_s": sum(all_flops[c.id] for c in sample) * len(proxy) * trained / cpu_s}


def accuracy_check(space: SearchSpace, chosen: Sequence[Candidate], device: torch.device, accel: Accel,
                   stack: int, workers: int, epochs: int, seed: int, data_root: str | None,
                   val_images: int | None) -> dict[str, Any]:
    """(c): the reference's loop and schedule against the engine's protocol, the same candidates and
    seeds, on a random FashionMNIST ipc-50 proxy; raises ``DataError`` when FashionMNIST is missing."""
    splits = load_dataset("fashion_mnist", data_root)
    random = get_method("random")
    context = Context(dataset_info("fashion_mnist"), torch.device("cpu"), seed=seed)
    proxy = random.condense(splits.train, 50, random.settings(), context).to(device)
    val = splits.val if val_images is None else splits.val.subset(torch.arange(val_images))
    val = val.to(device)
    protocol = Protocol(epochs=epochs, seed=seed)
    reference = []
    for c in chosen:
        model = seeded(lambda c=c: space.build(c, proxy.shape, 10), seed).to(device)
        reference_train(model, proxy, protocol, seed)
        reference.append(reference_accuracy(model, val))
        print(f"(c) reference {c.id}: {reference[-1]:.4f}", flush=True)
    outcomes = list(run_jobs([Job(c, seed) for c in chosen], space, proxy, val, val, protocol,
                             max_models=stack, accel=accel, workers=workers))
    engine = {o.job.candidate.id: o.val_acc for o in outcomes}
    pairs = [(c.id, ref, engine[c.id]) for c, ref in zip(chosen, reference, strict=True)]
    done = [(r, e) for _, r, e in pairs if e is not None]
    return {"proxy": "random_fashion_mnist_ipc50", "val_images": len(val),
            "reference_schedule": f"{epochs + 1} epochs, lr x0.1 and a new optimizer after "
                                  f"epoch index {epochs // 2 + 1}",
            "engine_schedule": f"{epochs} epochs, lr x{protocol.gamma:g} from epoch index "
                               f"{protocol.decay_epochs()}, momentum kept",
            "mean_val_acc_reference": statistics.fmean(r for r, _ in done),
            "mean_val_acc_engine": statistics.fmean(e for _, e in done),
            "mean_abs_gap": statistics.fmean(abs(r - e) for r, e in done),
            "per_candidate": [{"candidate": i, "reference": r, "engine": e} for i, r, e in pairs]}


def truth_throughput(space: SearchSpace, chosen: Sequence[Candidate], device: torch.device, accel: Accel,
                     stack: int, workers: int, images: int, seed: int,
                     channels_last: dict[str, bool]) -> dict[str, Any]:
    """(d): one epoch on ``images`` images (the full data's setting): the engine against the best
    single-network loop (each model in the engine's layout), on candidates of the default ConvNet's shape."""
    data = random_set(images, seed + 4, device)
    protocol = Protocol(epochs=1, seed=seed)
    tiny = random_set(2, seed + 5, device)
    jobs = [Job(c, seed) for c in chosen]
    engine_s, _, _ = cpu_timed(lambda: list(run_jobs(jobs, space, data, tiny, tiny, protocol, max_models=stack,
                                                    accel=accel, workers=workers)), device)
    single_s = 0.0
    for c in chosen:
        model = seeded(lambda c=c: space.build(c, data.shape, 10), seed).to(device)
        if channels_last.get(c.id):
            model = model.to(memory_format=torch.channels_last)
        seconds, _, _ = cpu_timed(lambda m=model: best_single_train(m, data, protocol, seed, accel), device)
        single_s += seconds
    n = len(chosen) * len(data)
    return {"candidates": [c.id for c in chosen], "images": len(data), "engine_images_per_s": n / engine_s,
            "best_single_images_per_s": n / single_s, "engine_over_single": single_s / engine_s}


def layouts(space: Any, candidates: list[Any], proxy: Any, val: Any, protocol: Protocol,
            accel: Accel) -> dict[str, Any]:
    """The engine's layout of every candidate, decided before timing: on a CPU the first decision for a
    kind is measured once per machine (``engine.layout``); its one-time cost is reported here."""
    trainer = TrainingTask(space, proxy, val, val, protocol, accel=accel).trainer()
    start = time.perf_counter()
    chosen = {}
    for c in candidates:
        stack = trainer.build([Job(c, protocol.seed)])
        weights = [p for p in stack.parameters() if p.dim() == 4 and p.shape[1] > 1]
        chosen[c.id] = "channels_last" if weights and not weights[-1].is_contiguous() else "contiguous"
    cache = home() / "cpu_layouts.json"
    return {"choose_layout": accel.choose_layout, "seconds": time.perf_counter() - start,
            "cache": str(cache) if accel.choose_layout and proxy.device.type == "cpu" else None,
            "per_candidate": chosen}
