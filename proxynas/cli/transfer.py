"""``proxynas transfer --proxy NAME [--proxy NAME2] [--arch ID ...]``: the cross-architecture matrix.

Trains every network (default: ConvNet, ResNet18, VGG11, AlexNet of ``dc_eval``, FTD's Table 3) on
every proxy ``--runs`` times with the evaluation protocol of the method that made the proxy (or
``--protocol``), through the results store (a rerun trains only what is missing), and prints test
accuracy mean ± std by proxy and network; the network a proxy was made with is marked ``*`` (and added
as a column when it is none of ``--arch``). ``--csv``/``--json`` write the cells, ``--plot`` the
heatmap, ``--out DIR`` all three.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from proxynas.cli.options import (
    add_data_options,
    add_evaluation_options,
    add_executor_options,
    checked_runs,
    evaluation_protocol,
    executor_from,
    open_results,
)
from proxynas.cli.progress import bar
from proxynas.cli.resolve import proxy_and_splits
from proxynas.errors import ProxynasError
from proxynas.plans import TrainingData
from proxynas.transfer import DEFAULT_ARCHS, ProxyInput, columns, pending_runs, train_matrix


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("transfer", help="test accuracy of several networks trained on proxies: the matrix",
                       description="Train several architectures on each proxy with its method's evaluation "
                                   "protocol and print test accuracy (mean ± std) by proxy and network.")
    p.add_argument("--proxy", action="append", required=True, help="proxy name (repeat for more rows)")
    p.add_argument("--arch", action="append", default=[],
                   help=f"network, SPACE:ID or a dc_eval id (repeat; default: {', '.join(DEFAULT_ARCHS)})")
    add_evaluation_options(p, runs="networks trained per cell",
                           protocol="for every proxy (default: each proxy's method's)")
    p.add_argument("--json", metavar="FILE", help="write the cells as JSON ('-': print it instead of the table)")
    p.add_argument("--csv", metavar="FILE", help="write the cells as CSV")
    p.add_argument("--plot", metavar="FILE", help="write the heatmap (PNG, PDF or SVG by the suffix)")
    p.add_argument("--out", metavar="DIR", help="write transfer.csv, transfer.json and transfer.png there")
    add_data_options(p)
    add_executor_options(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from analysis import transfer as render

    checked_runs(args)
    if len(set(args.proxy)) != len(args.proxy):
        raise ProxynasError("the same proxy is named twice in --proxy", "name each proxy once")
    executor = executor_from(args)
    proxies, protocols = [], []
    for name in args.proxy:
        proxy, splits = proxy_and_splits(name, data_root=args.data_root)
        proxies.append(ProxyInput(proxy.name, proxy.card, TrainingData(proxy.data, splits.val, splits.test)))
        protocol, why = evaluation_protocol(args, proxy.card)
        protocols.append(protocol)
        print(f"{proxy.name}: protocol {protocol.name} [{protocol.key()}] ({why}): {protocol.summary()}",
              file=sys.stderr)
    archs = columns(args.arch, [p.card for p in proxies])
    with open_results() as store:
        todo = pending_runs(store, proxies, archs, protocols, args.runs, fresh=args.fresh)
        epochs = sum(n * plan.protocol.total_epochs for plan, n in todo)
        runs = sum(n for _, n in todo)
        print(f"{len(proxies)} proxy(ies) x {len(archs)} network(s) x {args.runs} run(s); {runs} run(s) to train",
              file=sys.stderr)
        with bar(total=epochs, desc="transfer", unit="epoch") as progress:
            matrix = train_matrix(proxies, archs, protocols, args.runs, store, executor=executor,
                                  max_models=args.stack, fresh=args.fresh,
                                  on_epoch=lambda end: progress.update(len(end.jobs)))
    if args.json == "-":
        print(render.to_json(matrix))
    else:
        print(render.text_table(matrix))
    written = []
    if args.json and args.json != "-":
        written.append(_write(args.json, render.to_json(matrix)))
    if args.csv:
        written.append(_write(args.csv, render.to_csv(matrix)))
    if args.plot:
        Path(args.plot).parent.mkdir(parents=True, exist_ok=True)
        render.heatmap(matrix).savefig(args.plot, dpi=150)
        written.append(Path(args.plot))
    if args.out:
        written += render.save(matrix, args.out)
    for path in written:
        print(f"wrote {path}", file=sys.stderr)
    done = any(c.accs for c in matrix.cells.values())
    return 0 if done else 1


def _write(path: str, text: str) -> Path:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    return out
