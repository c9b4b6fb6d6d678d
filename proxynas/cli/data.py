"""``proxynas data``: which datasets exist, where they are read from, and downloading them."""

from __future__ import annotations

import argparse

from proxynas import paths
from proxynas.datasets import dataset_info, download, list_datasets


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("data", help="list or download datasets")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    ls = actions.add_parser("list", help="the datasets proxynas reads")
    ls.set_defaults(run=run_list)
    dl = actions.add_parser("download", help="download a dataset with torchvision (pip install proxynas[vision])")
    dl.add_argument("dataset")
    dl.add_argument("--data-root")
    dl.set_defaults(run=run_download)


def run_list(args: argparse.Namespace) -> int:
    print(f"data root: {paths.data_root()} (--data-root or $PROXYNAS_DATA to change)")
    for name in list_datasets():
        info = dataset_info(name)
        shape = "x".join(map(str, info.shape))
        print(f"  {name:<14} {shape:<8} {info.num_classes:>3} classes")
    return 0


def run_download(args: argparse.Namespace) -> int:
    path = download(args.dataset, paths.data_root(args.data_root))
    print(f"{args.dataset}: {path}")
    return 0
