"""``proxynas proxies``: list the proxy library (sub-commands add show and import)."""

from __future__ import annotations

import argparse
import datetime
import importlib

from proxynas.cli.resolve import proxy_library

# Modules of proxynas.cli with ``add_subparser(subparsers)`` adding a ``proxies`` sub-command.
SUBCOMMANDS: tuple[str, ...] = ("proxies_show", "proxies_import")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("proxies", help="list the proxy library", description="List, show or import proxies.")
    p.set_defaults(run=run_list)
    actions = p.add_subparsers(dest="action", metavar="ACTION")
    actions.add_parser("list", help="list the stored proxies").set_defaults(run=run_list)
    for name in SUBCOMMANDS:
        importlib.import_module(f"proxynas.cli.{name}").add_subparser(actions)


def run_list(args: argparse.Namespace) -> int:
    store = proxy_library()
    cards = store.cards()
    if not cards:
        print(f"no proxies in {store.root} yet (make one: proxynas condense random --dataset digits --ipc 10)")
        return 0
    print(f"{'name':<32} {'method':<8} {'dataset':<14} {'ipc':>4} {'images':>6} {'seconds':>8}  created")
    for name, card, images in cards:
        when = datetime.datetime.fromtimestamp(card.created).strftime("%Y-%m-%d %H:%M")
        print(f"{name:<32} {card.method:<8} {card.dataset:<14} {card.ipc:>4} {images:>6} {card.seconds:>8.1f}  {when}")
    return 0
