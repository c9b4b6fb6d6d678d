"""``proxynas demo``: a small real NAS study on the embedded digits data, start to finish on a CPU.

It runs the ``demo-digits`` study recipe (``proxynas study show demo-digits``): makes a proxy, trains a
sample of the space on it, trains the same sample on the full training split (the ground truth),
prints how well the proxy's ranking matches (Spearman's rho and friends) and writes the plots and an
HTML report. The options below change the recipe's settings.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

from proxynas import paths
from proxynas.cli.options import open_results
from proxynas.cli.study import execute_study, write_table
from proxynas.cli.training import print_ranking, rank
from proxynas.engine.executors import ExecutorOptions
from proxynas.errors import ProxynasError
from proxynas.plans import plan_rows
from proxynas.study import RunOptions, StudySpec, build_steps, load_study

RECIPE = "demo-digits"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="a small real study on digits: proxy, search, truth, Spearman, report",
                       description=__doc__)
    p.add_argument("--method", help="coreset method for the proxy (recipe: random)")
    p.add_argument("--ipc", type=int, help="proxy images per class (recipe: 10)")
    p.add_argument("--sample", type=int, help="candidates drawn from dc_convnet (recipe: 24)")
    p.add_argument("--proxy-epochs", type=int, help="epochs on the proxy (recipe: 40)")
    p.add_argument("--truth-epochs", type=int, help="epochs on the full training split (recipe: 10)")
    p.add_argument("--out", help="folder for the plots and report.html (recipe: proxynas-demo)")
    p.add_argument("--device", default="auto")
    p.set_defaults(run=run)


def demo_spec(args: argparse.Namespace) -> StudySpec:
    """The recipe with the options applied."""
    spec = load_study(RECIPE)
    proxy = spec.proxies[0]
    proxy = dataclasses.replace(proxy, method=args.method or proxy.method, ipc=args.ipc or proxy.ipc)
    space = dataclasses.replace(spec.space, sample=args.sample or spec.space.sample)
    search, truth = spec.search, spec.truth
    if args.proxy_epochs:
        search = dataclasses.replace(search, protocol=search.protocol.with_(epochs=args.proxy_epochs))
    if args.truth_epochs:
        truth = dataclasses.replace(truth, protocol=truth.protocol.with_(epochs=args.truth_epochs))
    return dataclasses.replace(spec, proxies=(proxy,), space=space, search=search, truth=truth,
                               output=Path(args.out) if args.out else spec.output)


def run(args: argparse.Namespace) -> int:
    from analysis import plots, tables, write_report
    from condensed import get_method

    start = time.perf_counter()
    spec = demo_spec(args)
    get_method(spec.proxies[0].method or "")  # an unknown method fails before any work
    for option, value in (("--ipc", args.ipc), ("--sample", args.sample)):
        if value is not None and value < 1:
            raise ProxynasError(f"{option} must be at least 1, got {value}", f"pass {option} 1 or more")
    out = paths.output_dir(spec.output)
    results = execute_study(spec, None, RunOptions(ExecutorOptions(device=args.device)))
    steps = build_steps(spec)
    study = results.study
    with open_results() as store:
        print()
        print_ranking(rank(plan_rows(store, steps.search[0].plan)), 5,
                      header=f"top 5 on the proxy ({steps.search[0].label})")
        print()
        print_ranking(rank(plan_rows(store, steps.truth.plan)), 5,
                      header="top 5 on the full training split (ground truth)")
        store_path = store.path
    print()
    print(tables.render(study))
    print()
    write_table(results, out, as_json=False)
    rho = study.comparisons[0].scores["spearman"]
    figures = plots.save_all(study, out)
    report = write_report(study, out / "report.html", table=results.table)
    print(f"\nSpearman rho, proxy vs ground truth, over {len(study.comparisons[0].candidates)} "
          f"candidates: {rho.text()}")
    print(f"plots: {', '.join(str(p) for p in figures if p.suffix == '.png')}")
    print(f"report: {report}\nresults store: {store_path}")
    print(f"demo finished in {time.perf_counter() - start:.0f} s")
    return 0

