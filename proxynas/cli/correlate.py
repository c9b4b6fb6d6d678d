"""``proxynas correlate``: how well each proxy's ranking agrees with the ground truth's."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from proxynas import paths
from proxynas.cli.options import open_results


def add_study_options(p: argparse.ArgumentParser) -> None:
    """What to compare; shared with ``proxynas report``."""
    p.add_argument("--truth", required=True, metavar="DATASET[@ID]",
                   help="dataset whose ground truth (`proxynas truth --dataset DATASET`) is the reference: the "
                        "one trained on its training split now (or imported); @ID another (a fingerprint's "
                        "first digits, or legacy)")
    p.add_argument("--proxy", action="append", default=[], metavar="NAME[@ID]",
                   help="a proxy searched with `proxynas search --proxy NAME`: the results of its current file; "
                        "NAME@ID those of an earlier set of that name (repeatable)")
    p.add_argument("--regime", choices=["fp32", "tf32", "bf16"],
                   help="use the rows trained in this numeric regime when a side holds several")
    p.add_argument("--pool-regimes", action="store_true",
                   help="pool rows of different numeric regimes into one side (refused by default)")
    p.add_argument("--data-root", help="dataset folder, to fingerprint the training split (default: "
                                       "$PROXYNAS_DATA or the user data dir)")
    p.add_argument("--baseline", "--scorer", action="append", default=[], metavar="NAME[:ARG]", dest="baseline",
                   help="a ranking that needs no proxy, any registered scorer (`proxynas score --list`): "
                        "early_stopping (the ground-truth protocol's shortest stored run), early_stopping:E "
                        "(E epochs), a scorer scored with `proxynas score` (synflow, params, vote, ...), or "
                        "published[:SOURCE] (an imported table); repeatable")
    p.add_argument("--space", default="dc_convnet", help="search space (default: dc_convnet)")
    p.add_argument("--truth-epochs", type=int, metavar="E",
                   help="ground truth trained E epochs (default: the longest stored)")
    p.add_argument("--epochs", type=int, metavar="E",
                   help="proxy searches trained E epochs (default: each proxy's protocol with most rows)")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (default: 0)")
    p.add_argument("--resamples", type=int, default=1000,
                   help="bootstrap draws for the 95%% intervals (half-samples of the candidates, seeds drawn "
                        "again; docs/metrics.md); 0 skips them (default: 1000)")


def study_from(args: argparse.Namespace) -> Any:
    """The study the options describe, read from the results store."""
    from analysis import compare
    from analysis.sides import Choice
    from proxynas.proxies import ProxyLibrary

    with open_results() as store:
        return compare(store, dataset=args.truth, space=args.space, proxies=args.proxy,
                       baselines=args.baseline, truth_epochs=args.truth_epochs, proxy_epochs=args.epochs,
                       proxy_store=ProxyLibrary(paths.proxy_dir()), seed=args.seed, resamples=args.resamples,
                       truth_identity=current_split(args.truth.partition("@")[0], args.data_root),
                       choice=Choice(args.regime, args.pool_regimes))


def current_split(dataset: str, data_root: str | None) -> str | None:
    """The fingerprint of ``dataset``'s training split now (cached); None when its files cannot be read."""
    from proxynas.datasets import load_dataset
    from proxynas.errors import DataError
    from proxynas.identity import split_identity

    try:
        return split_identity(load_dataset(dataset, data_root))
    except DataError:
        return None


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("correlate", help="rank agreement of proxies with the ground truth",
                       description="Compare each proxy's ranking of the candidates with the ground truth's: "
                                   "Spearman, Kendall, top-k, precision@k, regret, with bootstrap intervals "
                                   "and the noise ceiling of the ground truth's seeds (docs/metrics.md).")
    add_study_options(p)
    p.add_argument("--json", action="store_true", help="print the study as JSON")
    p.add_argument("--csv", metavar="FILE", help="also write one row per (compared, metric) to FILE")
    p.add_argument("--plots", metavar="DIR", help="also write the plots (PNG and PDF) to DIR")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from analysis import tables

    csv_path = paths.output_file(args.csv, "pass --csv with a file in a folder you can write") if args.csv else None
    plots_dir = paths.output_dir(args.plots, "pass --plots with a folder you can write") if args.plots else None
    study = study_from(args)
    written = []
    if csv_path is not None:
        written.append(tables.write_csv(study, csv_path))
    if plots_dir is not None:
        from analysis import plots

        written += plots.save_all(study, plots_dir)
    if args.json:
        print(json.dumps(tables.to_json(study), indent=2))
    else:
        print(tables.render(study))
    for path in written:
        print(f"wrote {path}", file=sys.stderr)
    return 0
