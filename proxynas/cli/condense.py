"""``proxynas condense METHOD``: make a proxy training set and put it in the proxy library.

A proxy of that name already in the store is reused only when its card names the asked settings. More
iterations of a synthetic run continue from its kept checkpoint; any other difference is an error that
names it and the flag that makes the proxy again (``--fresh``).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from condensed import get_method, list_methods
from condensed.make import make_proxy
from condensed.reuse import checkpoint_path, forget, judge
from proxynas.cli.options import add_data_options, open_results
from proxynas.cli.progress import bar
from proxynas.cli.resolve import proxy_library
from proxynas.datasets import load_dataset
from proxynas.engine import resolve_device
from proxynas.errors import ProxynasError
from proxynas.identity import short
from proxynas.proxies import ProxyName
from proxynas.proxies.library import read_header


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("condense", help="make a proxy set (coreset or synthetic)",
                       description="Condense a dataset's training split into IPC images per class.")
    p.add_argument("method", help=f"one of: {', '.join(list_methods())}")
    p.add_argument("--dataset", required=True)
    p.add_argument("--ipc", type=int, required=True, help="images per class")
    p.add_argument("--iterations", type=int, help="optimisation steps (synthetic methods)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a method setting")
    p.add_argument("--fresh", action="store_true",
                   help="make it again from the start, replacing a stored proxy of that name")
    p.add_argument("--force", action="store_true", dest="fresh", help=argparse.SUPPRESS)  # the old name
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
    store = proxy_library()
    splits = load_dataset(args.dataset, args.data_root)
    name = str(ProxyName(method.name, splits.name, args.ipc))
    with store.making(name):  # another command making this proxy: wait for it, then judge what it made
        seconds_before = 0.0
        if args.fresh:
            forget(store.root, store.path(name), name)
        elif name in store:
            card, _ = read_header(store.path(name))
            verdict = judge(card, method.name, args.seed, overrides, checkpoint=checkpoint_path(store.root, name))
            if verdict.kind == "same":
                print(f"{name} is already in the store with these settings ({store.path(name)}); "
                      "--fresh makes it again")
                return 0
            if verdict.kind == "imported":
                raise ProxynasError(f"{name} in the store was imported ({card.settings.get('file', 'a file')}), "
                                    f"not made by proxynas {method.name}",
                                    "--fresh replaces it with one made here, or import under another name")
            if verdict.kind == "differs":
                raise ProxynasError(f"{name} in the store was made with other settings: {verdict.text()}",
                                    "add --fresh to make it again with the asked settings (it replaces the stored one)")
            print(f"{name} in the store ran {verdict.done_iterations} iterations; continuing the same run from its "
                  f"checkpoint to {overrides['iterations']}", file=sys.stderr)
            seconds_before = card.seconds
        with bar(total=1, desc=f"condense {method.name}") as progress:
            def report(done: int, total: int) -> None:
                progress.total = total
                progress.update(done - progress.n)

            proxy = make_proxy(store, method.name, splits, args.ipc, seed=args.seed, device=device,
                               progress=report, seconds_before=seconds_before, **overrides)
    card = proxy.card
    print(f"{name}: {len(proxy.data)} images {card.shape} of {card.num_classes} classes, "
          f"made in {card.seconds:.1f} s -> {store.path(name)}")
    _note_old_results(name, proxy.data.fingerprint())
    return 0


def _note_old_results(name: str, fingerprint: str) -> None:
    """Results trained on an earlier set of this name stay under its fingerprint: say so, and how to read them."""
    with open_results() as results:
        old = sorted({r.trainset_id for r in results.rows(trainset=name) if r.trainset_id != fingerprint})
    if old:
        ids = ", ".join(short(i) for i in old)
        print(f"note: the store holds results of earlier sets named {name} ({ids}); they stay readable under "
              f"their own identity (`proxynas correlate --proxy {name}@{short(old[-1])}`), never mixed with this "
              f"one's ({short(fingerprint)}), which starts from nothing", file=sys.stderr)
