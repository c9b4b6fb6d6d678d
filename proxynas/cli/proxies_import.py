"""``proxynas proxies import FILE --name NAME``: a condensed set published by a reference implementation."""

from __future__ import annotations

import argparse
from pathlib import Path

from condensed.importers import FORMATS, import_proxy
from proxynas.cli.resolve import proxy_library


def add_subparser(actions: argparse._SubParsersAction) -> None:
    p = actions.add_parser("import", help="import a published condensed set (.pt)",
                           description=f"Import {FORMATS} into the proxy library. Files are read with "
                                       "torch.load(weights_only=True): nothing in them is run.")
    p.add_argument("file", type=Path, help="the .pt file")
    p.add_argument("--name", required=True, help="proxy name to store it under, e.g. dc_cifar10_ipc10")
    p.add_argument("--dataset", help="the dataset it was condensed from (default: from the file name)")
    p.add_argument("--exp", type=int, default=0, help="experiment to take from a res_*.pt (default: 0)")
    p.add_argument("--factor", type=int, help="IDC multi-formation factor (default: from the folder name)")
    p.add_argument("--zca", action="store_true",
                   help="an MTT/FTD images_best.pt distilled with --zca: evaluate it on ZCA-whitened images "
                        "(the ZCA fitted on the whole training set, as the reference)")
    p.add_argument("--syn-lr", type=float,
                   help="the step size the MTT/FTD run learned (its log's Synthetic_LR); default: lr_teacher 0.01")
    p.add_argument("--force", action="store_true", help="replace a proxy of that name")
    p.set_defaults(run=run_import)


def run_import(args: argparse.Namespace) -> int:
    proxy = import_proxy(proxy_library(), args.file, args.name, dataset=args.dataset, exp=args.exp,
                         factor=args.factor, force=args.force, zca=args.zca, syn_lr=args.syn_lr)
    card = proxy.card
    print(f"{proxy.name}: {len(proxy.data)} images {card.shape} of {card.num_classes} classes "
          f"({card.method}, {card.ipc} stored per class, {card.dataset}{', ZCA space' if args.zca else ''}) "
          f"imported from {args.file}")
    return 0
