"""``proxynas truth import nb201|csv|analognas PATH``: published accuracies as the ground truth, without training.

The rows land where ``proxynas truth`` puts its own (training set ``full_{dataset}``), under a protocol
named for their source, so ``correlate``, ``report`` and studies use them unchanged.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from proxynas.cli.options import open_results
from proxynas.cli.progress import bar
from proxynas.datasets import dataset_info
from proxynas.truth import PublishedTruth, read_csv, read_nats, save_truth
from proxynas.truth.nats import SPACE as NB201
from search_spaces import get_space, list_spaces


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Adds ``import`` to the sub-commands of ``proxynas truth``."""
    p = sub.add_parser("import", help="store published accuracies as the ground truth",
                       description="Store accuracies published elsewhere as the ground truth of a dataset: "
                                   "`correlate --truth DATASET` then ranks proxies against them.")
    formats = p.add_subparsers(dest="format", metavar="FORMAT", required=True)
    nb = formats.add_parser("nb201", help="NAS-Bench-201 / NATS-Bench topology results (space nb201)",
                            description="Read the NATS-Bench topology benchmark as downloaded: the "
                                        "NATS-tss-v1_0-3ffb9-simple folder, the single NATS-tss-v1_0-3ffb9"
                                        ".pickle.pbz2 file, or an NB201 .pth file. Nothing in it is run.")
    nb.add_argument("path", type=Path)
    nb.add_argument("--dataset", required=True, choices=["cifar10", "cifar100"])
    nb.add_argument("--epochs", type=int, default=200, help="the training budget: 200 (default) or 12")
    nb.add_argument("--rank-on", default="test", choices=["test", "valid"],
                    help="accuracy the truth ranks by: test (default; DC-Bench's choice) or the benchmark's "
                         "validation split (cifar10: the cifar10-valid runs, trained on 25,000 images)")
    nb.set_defaults(run=run_nb201)
    table = formats.add_parser("csv", help="a table with columns arch,accuracy[,test_accuracy][,seed][,seconds]",
                               description="Accuracies in [0, 1] or percent; one row per candidate and seed.")
    table.add_argument("path", type=Path)
    table.add_argument("--dataset", required=True, help="the dataset the accuracies were measured on")
    table.add_argument("--space", required=True, help=f"search space of the ids: {', '.join(list_spaces())}")
    table.add_argument("--epochs", type=int, required=True, help="how many epochs those networks trained")
    table.add_argument("--source", help="name of the source (default: the file's name); names the protocol")
    table.set_defaults(run=run_csv)
    analog = formats.add_parser("analognas", help="AnalogNAS-Bench's CIFAR-10 accuracies of the 15,625 nb201 cells",
                                description="Read the data.anb pickle of the analog-nasbench package "
                                            "(pip install 'proxynas[analognas]') as the cifar10 truth of nb201: "
                                            "each cell's baseline_accuracy (test). Nothing of the package is run.")
    analog.add_argument("path", type=Path, nargs="?", help="its data.anb (default: the installed package's)")
    analog.add_argument("--epochs", type=int, default=200,
                        help="the training budget the truth is filed under (default 200, NAS-Bench-201's)")
    analog.set_defaults(run=run_analognas)


def run_nb201(args: argparse.Namespace) -> int:
    with bar(total=0, desc="read benchmark", unit="arch") as progress:
        def update(done: int, total: int) -> None:
            progress.total = total
            progress.update(done - progress.n)

        truth = read_nats(args.path, args.dataset, epochs=args.epochs, rank_on=args.rank_on, progress=update)
    return store(truth)


def run_csv(args: argparse.Namespace) -> int:
    dataset_info(args.dataset)  # an unknown dataset fails here, listing the known ones
    truth = read_csv(args.path, get_space(args.space), args.dataset, epochs=args.epochs, source=args.source)
    return store(truth)


def run_analognas(args: argparse.Namespace) -> int:
    from proxynas.truth.analognas import read_analognas

    return store(read_analognas(args.path, epochs=args.epochs))


def store(truth: PublishedTruth) -> int:
    with open_results() as results:
        rows = save_truth(results, truth, get_space(truth.space))
        where = results.path
    seeds = ", ".join(map(str, truth.seeds()))
    settings = truth.settings
    print(f"ground truth full_{truth.dataset} · {truth.space}: {len(truth.candidates())} candidates, {rows} rows "
          f"(seeds {seeds}), {truth.epochs} epochs, from {settings['source']}")
    if truth.space == NB201 and "val_acc" in settings:
        print(f"  ranked by {settings['benchmark_dataset']} {settings['val_acc']}, test {settings['test_acc']}, "
              f"trained on {settings['trained_on']}")
    print(f"  protocol '{truth.protocol}' in {where}; use it with `proxynas correlate --truth {truth.dataset} "
          f"--space {truth.space} --proxy ...`")
    return 0
