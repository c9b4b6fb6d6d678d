"""``proxynas condense METHOD``: make a proxy training set and put it in the proxy store."""

from __future__ import annotations

import argparse
import json
from typing import Any

from condensed import get_method, list_methods
from condensed.make import make_proxy
from proxynas.cli.options import add_data_options
from proxynas.cli.progress import bar
from proxynas.cli.resolve import proxy_store
from proxynas.datasets import load_dataset
from proxynas.engine import resolve_device
from proxynas.errors import ProxynasError
from proxynas.proxies import ProxyName


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("condense", help="make a proxy set (coreset or synthetic)",
                       description="Condense a dataset's training split into IPC images per class.")
    p.add_argument("method", help=f"one of: {', '.join(list_methods())}")
    p.add_argument("--dataset", required=True)
    p.add_argument("--ipc", type=int, required=True, help="images per class")
    p.add_argument("--iterations", type=int, help="optimisation steps (synthetic methods)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a method setting")
    p.add_argument("--force", action="store_true", help="make it again even if the store has it")
    add_data_options(p)
    p.set_defaults(run=run)


def parse_settings(items: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ProxynasError(f"--set '{item}' is not KEY=VALUE", "e.g. --set lr_img=0.1")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def run(args: argparse.Namespace) -> int:
    method = get_method(args.method)
    if args.ipc < 1:
        raise ProxynasError(f"--ipc must be at least 1, got {args.ipc}", "pass --ipc 1 or more")
    overrides = parse_settings(args.set)
    if args.iterations is not None:
        overrides["iterations"] = args.iterations
    method.settings(**overrides)  # fail on a bad setting before loading any data
    device = resolve_device(args.device)
    store = proxy_store()
    splits = load_dataset(args.dataset, args.data_root)
    name = str(ProxyName(method.name, splits.name, args.ipc))
    if name in store and not args.force:
        print(f"{name} is already in the store ({store.path(name)}); --force makes it again")
        return 0
    with bar(total=1, desc=f"condense {method.name}") as progress:
        def report(done: int, total: int) -> None:
            progress.total = total
            progress.update(done - progress.n)

        proxy = make_proxy(store, method.name, splits, args.ipc, seed=args.seed, device=device,
                           progress=report, **overrides)
    card = proxy.card
    print(f"{name}: {len(proxy.data)} images {card.shape} of {card.num_classes} classes, "
          f"made in {card.seconds:.1f} s -> {store.path(name)}")
    return 0
