"""``proxynas demo``: a small real NAS study on the embedded digits data, start to finish on a CPU.

It makes a proxy, trains a sample of the space on it, trains the same sample on the full training
split (the ground truth) and prints how well the proxy's ranking matches: Spearman's rho.
"""

from __future__ import annotations

import argparse
import time

from scipy import stats

from proxynas.cli.resolve import resolve_proxy
from proxynas.cli.training import Ranked, execute, print_ranking
from proxynas.cli.options import open_results
from proxynas.datasets import load_dataset
from proxynas.engine import Protocol, resolve_device
from proxynas.engine.batching import default_stack_size
from proxynas.runs import Plan
from proxynas.store import truth_trainset
from search_spaces import get_space


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="a small real study on digits: proxy, search, truth, Spearman",
                       description=__doc__)
    p.add_argument("--method", default="random", help="coreset method for the proxy (default: random)")
    p.add_argument("--ipc", type=int, default=10, help="proxy images per class (default: 10)")
    p.add_argument("--sample", type=int, default=24, help="candidates drawn from dc_convnet (default: 24)")
    p.add_argument("--proxy-epochs", type=int, default=60)
    p.add_argument("--truth-epochs", type=int, default=15)
    p.add_argument("--device", default="auto")
    p.set_defaults(run=run)


def spearman(proxy: list[Ranked], truth: list[Ranked]) -> tuple[float, int]:
    truth_acc = {r.candidate: r.val_acc for r in truth if r.status == "done"}
    pairs = [(r.val_acc, truth_acc[r.candidate]) for r in proxy if r.status == "done" and r.candidate in truth_acc]
    rho = stats.spearmanr([p for p, _ in pairs], [t for _, t in pairs]).statistic
    return float(rho), len(pairs)


def run(args: argparse.Namespace) -> int:
    start = time.perf_counter()
    space = get_space("dc_convnet")
    candidates = space.sample(args.sample, seed=0)
    device = resolve_device(args.device)
    stack = default_stack_size(device)
    splits = load_dataset("digits")
    val, test = splits.val.to(device), splits.test.to(device)
    proxy = resolve_proxy(f"{args.method}_digits_ipc{args.ipc}", data_root=None, device=device)
    print(f"1/3 proxy {proxy.name}: {len(proxy.data)} of {len(splits.train)} training images")

    with open_results() as store:
        print(f"2/3 search: {len(candidates)} dc_convnet candidates on the proxy, {args.proxy_epochs} epochs")
        proxy_plan = Plan(space, candidates, Protocol(epochs=args.proxy_epochs), 1, proxy.name, "digits")
        on_proxy = execute(proxy_plan, store, proxy.data, val, test, fresh=False, max_models=stack, augment=None)
        print(f"3/3 ground truth: the same candidates on all {len(splits.train)} images, {args.truth_epochs} epochs")
        truth_plan = Plan(space, candidates, Protocol(epochs=args.truth_epochs), 1, truth_trainset("digits"),
                          "digits")
        truth = execute(truth_plan, store, splits.train.to(device), val, test, fresh=False, max_models=stack,
                        augment=None)
        print()
        print_ranking(on_proxy, 5, header=f"top 5 on the proxy ({proxy.name})")
        print()
        print_ranking(truth, 5, header="top 5 on the full training split (ground truth)")
        rho, n = spearman(on_proxy, truth)
        print(f"\nSpearman rho between the proxy's and the ground truth's rankings: {rho:.3f} "
              f"({n} candidates)")
        print(f"results store: {store.path}")
    print(f"demo finished in {time.perf_counter() - start:.0f} s")
    return 0
