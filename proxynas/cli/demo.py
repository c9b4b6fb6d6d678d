"""``proxynas demo``: a small real NAS study on the embedded digits data, start to finish on a CPU.

It makes a proxy, trains a sample of the space on it, trains the same sample on the full training
split (the ground truth), prints how well the proxy's ranking matches (Spearman's rho and friends)
and writes the plots and an HTML report.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from proxynas.cli.options import open_results
from proxynas.cli.resolve import proxy_store, resolve_proxy
from proxynas.cli.training import execute, print_ranking
from proxynas.datasets import load_dataset
from proxynas.engine import Protocol
from proxynas.engine.executors import ExecutorOptions
from proxynas.runs import Plan, TrainingData
from proxynas.store import truth_trainset


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="a small real study on digits: proxy, search, truth, Spearman, report",
                       description=__doc__)
    p.add_argument("--method", default="random", help="coreset method for the proxy (default: random)")
    p.add_argument("--ipc", type=int, default=10, help="proxy images per class (default: 10)")
    p.add_argument("--sample", type=int, default=24, help="candidates drawn from dc_convnet (default: 24)")
    p.add_argument("--proxy-epochs", type=int, default=40)
    p.add_argument("--truth-epochs", type=int, default=10)
    p.add_argument("--out", default="proxynas-demo", help="folder for the plots and report.html")
    p.add_argument("--device", default="auto")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import analysis
    from analysis import plots, tables
    from search_spaces import get_space

    start = time.perf_counter()
    space = get_space("dc_convnet")
    candidates = space.sample(args.sample, seed=0)
    executor = ExecutorOptions(device=args.device)
    splits = load_dataset("digits")
    proxy = resolve_proxy(f"{args.method}_digits_ipc{args.ipc}", data_root=None)
    say(f"1/4 proxy {proxy.name}: {len(proxy.data)} of the {len(splits.train)} training images")

    with open_results() as store:
        say(f"2/4 search: {len(candidates)} dc_convnet candidates on the proxy, {args.proxy_epochs} epochs")
        proxy_plan = Plan(space, candidates, Protocol(epochs=args.proxy_epochs), 1, proxy.name, "digits")
        on_proxy = execute(proxy_plan, store, TrainingData(proxy.data, splits.val, splits.test), executor,
                           max_models=None, fresh=False)
        say(f"3/4 ground truth: the same candidates on all {len(splits.train)} training images, "
            f"{args.truth_epochs} epochs")
        truth_plan = Plan(space, candidates, Protocol(epochs=args.truth_epochs), 1,
                          truth_trainset("digits"), "digits")
        truth = execute(truth_plan, store, TrainingData(splits.train, splits.val, splits.test), executor,
                        max_models=None, fresh=False)
        say("4/4 analysis")
        study = analysis.compare(store, dataset="digits", proxies=[proxy.name], proxy_epochs=args.proxy_epochs,
                                 truth_epochs=args.truth_epochs, proxy_store=proxy_store(), resamples=200)
        print()
        print_ranking(on_proxy, 5, header=f"top 5 on the proxy ({proxy.name})")
        print()
        print_ranking(truth, 5, header="top 5 on the full training split (ground truth)")
        print()
        print(tables.render(study))
        rho = study.comparisons[0].scores["spearman"]
        out = Path(args.out)
        figures = plots.save_all(study, out)
        report = analysis.write_report(study, out / "report.html")
        print(f"\nSpearman rho, proxy vs ground truth, over {len(study.comparisons[0].candidates)} "
              f"candidates: {rho.text()}")
        print(f"plots: {', '.join(str(p) for p in figures if p.suffix == '.png')}")
        print(f"report: {report}\nresults store: {store.path}")
    print(f"demo finished in {time.perf_counter() - start:.0f} s")
    return 0


def say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
