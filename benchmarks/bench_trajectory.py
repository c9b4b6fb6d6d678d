"""MTT and FTD on digits at a shrunk scale, evaluated with their protocols beside random of the same size (#21).

    python benchmarks/bench_trajectory.py --name trajectory_digits_cpu

For each method (``mtt`` with SGD experts, ``ftd`` with GSAM experts; 3 experts x 6 epochs, the default
ConvNet, no ZCA) two settings are condensed (ipc 10, 6 iterations, lr_img 100) and evaluated with the
method's protocol (DSA, 1000 epochs, the learned step size), ``--runs`` seeds each:

- ``as found``: syn_steps 10, expert_epochs 2, max_start_epoch 4 (the student takes 10 steps to match
  2 expert epochs = 12 expert SGD steps on digits' 1,294 images in batches of 256);
- ``reference ratio``: syn_steps 2, expert_epochs 5, max_start_epoch 2: the reference's ratio of expert
  SGD steps to student steps kept (CIFAR-10 ipc 10, ``run_distill.sh``: 2 epochs x 196 batches / 30 steps
  = 13; here 5 x 6 / 2 = 15).

Random ipc 10 is evaluated with its own protocol (``dc``) and with ``mtt``'s (DSA, 1000 epochs, lr 0.01),
so the protocol's share and the images' share of any gap are told apart. Per set it records the first
iteration's image gradient and the size of the first image step relative to the images (``lr_img x
|grad| / |images|``), every iteration's loss, the learned ``syn_lr``, the images' std before and after,
and the condensation and evaluation times.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import environment, save

from condensed.base import Context
from condensed.experts import ExpertSettings, open_set, train_experts
from condensed.make import make_proxy
from condensed.registry import get_method
from condensed.reuse import checkpoint_path
from proxynas import paths
from proxynas.cli import main
from proxynas.datasets import dataset_info, load_dataset
from proxynas.proxies import ProxyLibrary

BASE = {"iterations": 6, "lr_img": 100.0, "zca": "no"}
VARIANTS = {
    "as_found": {"syn_steps": 10, "expert_epochs": 2, "max_start_epoch": 4},
    "reference_ratio": {"syn_steps": 2, "expert_epochs": 5, "max_start_epoch": 2},
}
EXPERTS, EXPERT_EPOCHS = 3, 6


def first_step(method: str, splits, settings: dict) -> dict:
    """One traced iteration from the same start as the run: the gradient and the step it makes."""
    impl = get_method(method)
    s = impl.settings(**settings)
    work = impl.workspace(splits.train, 10, s, Context(dataset_info("digits"), torch.device("cpu"), 0))
    before = work.images.detach().clone()
    loss = impl.iteration(work, 0, s)
    grad = work.images.grad.detach()
    return {"loss": float(loss), "image_grad_norm": float(grad.norm()), "images_norm": float(before.norm()),
            "relative_step": float(s.lr_img * grad.norm() / before.norm()),
            "syn_lr_grad": float(work.syn_lr.grad), "images_std": float(before.std())}


def evaluate(proxy: str, runs: int, protocol: str | None = None) -> dict:
    args = ["evaluate", "--proxy", proxy, "--runs", str(runs), "--device", "cpu", "--json"]
    if protocol:
        args += ["--protocol", protocol]
    out = io.StringIO()
    start = time.perf_counter()
    with contextlib.redirect_stdout(out):
        rc = main(args)
    seconds = time.perf_counter() - start
    result = json.loads(out.getvalue())
    accs = [100 * r["test_acc"] for r in result["runs"] if r["status"] == "done"]
    return {"rc": rc, "protocol": result["protocol_name"], "lr": result["protocol"]["lr"],
            "epochs": result["protocol"]["epochs"], "test_acc": accs, "mean": statistics.fmean(accs),
            "std": statistics.pstdev(accs), "seconds": seconds}


def make_set(method: str, variant: str, splits, store: ProxyLibrary, runs: int) -> dict:
    settings_all = BASE | VARIANTS[variant]
    name = f"{method}_digits_ipc10"
    trace = first_step(method, splits, settings_all)
    start = time.perf_counter()
    proxy = make_proxy(store, method, splits, 10, **settings_all)
    seconds = time.perf_counter() - start  # a resumed run counts only what this call did
    ckpt = checkpoint_path(store.root, name)
    state = torch.load(ckpt, weights_only=True)
    kept = f"{method}_{variant.replace('_', '')}_digits"
    store.save(kept, proxy.data, proxy.card)
    ckpt.unlink()
    return {"name": kept, "settings": settings_all, "first_iteration": trace, "losses": state["losses"].tolist(),
            "learned_syn_lr": proxy.card.settings.get("learned", {}).get("syn_lr"),
            "images_std_after": float(proxy.data.images.std()),
            "finite": bool(torch.isfinite(proxy.data.images).all()), "condense_seconds": seconds,
            "evaluation": evaluate(kept, runs)}


def experts_for(optimizer: str, splits) -> dict:
    settings = ExpertSettings(optimizer=optimizer)
    experts = open_set(paths.home(), "digits", splits.train, settings, create=True)
    start = time.perf_counter()
    train_experts(experts, splits.train, dataset_info("digits"), settings, list(range(EXPERTS)), EXPERT_EPOCHS)
    n = experts.flat(0, 0).numel()
    return {"seconds": time.perf_counter() - start, "experts": EXPERTS, "epochs": EXPERT_EPOCHS,
            "sgd_steps_per_epoch": -(-len(splits.train) // settings.batch),
            "distance2_per_param_from_epoch0": {  # expert 0, over k epochs
                str(k): float(((experts.flat(0, k) - experts.flat(0, 0)) ** 2).sum() / n)
                for k in range(1, EXPERT_EPOCHS + 1)}}


# (what, how): run in this order, the record saved after each, so a run cut short keeps what it finished
STEPS = (("experts sgd", ("experts", "sgd")), ("mtt as_found", ("set", "mtt", "as_found")),
         ("random mtt protocol", ("random", "mtt")), ("mtt reference_ratio", ("set", "mtt", "reference_ratio")),
         ("random dc protocol", ("random", None)), ("experts gsam", ("experts", "gsam")),
         ("ftd reference_ratio", ("set", "ftd", "reference_ratio")), ("ftd as_found", ("set", "ftd", "as_found")))


def run(runs: int, name: str, base: dict) -> dict:
    splits = load_dataset("digits", None)
    store = ProxyLibrary(paths.proxy_dir())
    record: dict = base | {"steps": {}}
    start = time.perf_counter()
    for label, (kind, *what) in STEPS:
        if kind == "experts":
            record["steps"][label] = experts_for(what[0], splits)
        elif kind == "set":
            record["steps"][label] = make_set(what[0], what[1], splits, store, runs)
        else:
            record["steps"][label] = evaluate("random_digits_ipc10", runs, what[0])
        record["steps"][label]["finished_after_s"] = time.perf_counter() - start
        record |= {"load_average": os.getloadavg()} | environment(torch.device("cpu"))
        print(label, json.dumps(record["steps"][label])[:400], flush=True)
        save(name, record)
    return record


def cli() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--name", default="trajectory_digits_cpu")
    args = p.parse_args()
    if "PROXYNAS_HOME" not in os.environ:
        sys.exit("set PROXYNAS_HOME to a fresh folder (experts and proxies are written there)")
    run(args.runs, args.name, {"note": "CPU shared with other engineers' runs (see load_average)"})


if __name__ == "__main__":
    cli()
