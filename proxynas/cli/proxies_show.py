"""``proxynas proxies show NAME``: write a PNG grid of a proxy's images (one row per class)."""

from __future__ import annotations

import argparse
from pathlib import Path

from proxynas import paths
from proxynas.cli.resolve import proxy_library
from proxynas.datasets import dataset_info
from proxynas.errors import ProxynasError
from proxynas.proxies.grid import write_grid


def add_subparser(actions: argparse._SubParsersAction) -> None:
    p = actions.add_parser("show", help="write a PNG grid of a proxy's images",
                           description="Write a PNG with one row per class of a proxy's images.")
    p.add_argument("name", help="proxy name (see `proxynas proxies list`)")
    p.add_argument("--out", type=Path, help="PNG file to write (default: NAME.png here)")
    p.add_argument("--per-class", type=int, default=10, help="images per row, at most (default: 10)")
    p.set_defaults(run=run_show)


def run_show(args: argparse.Namespace) -> int:
    if args.per_class < 1:
        raise ProxynasError(f"--per-class must be at least 1, got {args.per_class}",
                            "pass --per-class 1 or more")
    proxy = proxy_library().load(args.name)
    info = dataset_info(proxy.card.dataset)
    out = paths.output_file(args.out or Path(f"{proxy.name}.png"))
    title = f"{proxy.name}: {len(proxy.data)} images, {proxy.card.method} on {info.name}"
    path = write_grid(proxy.data, out, mean=info.mean, std=info.std, classes=info.classes,
                      per_class=args.per_class, title=title)
    print(f"wrote {path}")
    return 0
