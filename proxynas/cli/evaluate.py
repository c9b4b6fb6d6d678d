"""``proxynas evaluate --proxy NAME``: the condensation papers' number for a proxy.

Trains one network (default: the DC default ConvNet) on the proxy ``--runs`` times, seeds 0, 1, ...,
with the evaluation protocol of the method that made the proxy, as its paper's code trains
(:mod:`proxynas.presets`: ``dc``, ``dsa``, ``dm``, ``idc``; coresets with ``dc``), and reports the
test accuracy's mean and standard deviation (population std, as the reference scripts print).
``--protocol NAME`` picks another; ``--exact`` runs the DC reference's own loop (one more epoch, the
drop one epoch later, a new optimizer at it); ``--epochs``, ``--lr``, ``--batch-size``, ``--aug``
change one setting of it. Every run is a row of the results store (training set = the proxy's name,
under the protocol's hash; the store keeps the protocol's name and settings beside the hash), so a
rerun only trains what is missing.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys

from proxynas import transfer
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
from proxynas.engine import Protocol
from proxynas.engine.executors import make_executor
from proxynas.identity import set_identity
from proxynas.plans import TrainingData, pending, plan_rows, train_into_store, with_regime
from proxynas.store import ResultRow
from search_spaces import get_space, resolve_candidate


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="train a network on a proxy N times: test accuracy mean ± std",
                       description="Train one architecture on a proxy with its method's evaluation protocol, "
                                   "several seeds, and report the test accuracy as the papers do.")
    p.add_argument("--proxy", required=True, help="proxy name, e.g. dc_fashion_mnist_ipc10")
    p.add_argument("--space", default="dc_convnet", help="search space of a bare --arch id (default: dc_convnet)")
    p.add_argument("--arch", action="append", default=[],
                   help="candidate id, or SPACE:ID (e.g. dc_eval:resnet18); repeat for several "
                        "(default: the space's default, the DC ConvNet)")
    add_evaluation_options(p, runs="networks trained", protocol="(default: the one of the method that made the proxy)")
    p.add_argument("--json", action="store_true", help="print machine-readable results")
    add_data_options(p)
    add_executor_options(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    checked_runs(args)
    space = get_space(args.space)
    candidates = [resolve_candidate(a, args.space) for a in args.arch] or [space.default()]
    executor = executor_from(args)
    proxy, splits = proxy_and_splits(args.proxy, data_root=args.data_root)
    protocol, why = evaluation_protocol(args, proxy.card)
    runner = make_executor(executor)
    data = TrainingData(proxy.data, splits.val, splits.test)
    plans = [with_regime(plan, runner, data, None)
             for plan in transfer.plans(candidates, protocol, args.runs, trainset=proxy.name, dataset=splits.name,
                                        fingerprint=set_identity(proxy.data))]
    results = []
    with open_results() as store:
        todo = sum(len(pending(plan, store, fresh=args.fresh)) for plan in plans)
        if not args.json:
            print(f"protocol {protocol.name or 'custom'} [{protocol.key()}] ({why}): {protocol.summary()}",
                  file=sys.stderr)
            print(f"{proxy.name}: {', '.join(c.id for c in candidates)} x {args.runs} run(s) on "
                  f"{len(proxy.data)} images; {args.runs * len(candidates) - todo} in the store, {todo} to train",
                  file=sys.stderr)
        with bar(total=todo * protocol.total_epochs, desc=proxy.name, unit="epoch") as progress:
            for plan in plans:
                train_into_store(plan, store, data, executor=runner,
                                 max_models=args.stack, fresh=args.fresh,
                                 on_epoch=lambda end: progress.update(len(end.jobs)), command="evaluate")
        for plan in plans:
            rows = plan_rows(store, plan)
            for c in plan.candidates:
                results.append((c, sorted((r for r in rows if r.candidate == c.id), key=lambda r: r.seed)))
    names = [c.id if len(results) == 1 and c.space == args.space else c.qualified_id for c, _ in results]
    if args.json and len(results) > 1:  # one JSON document: a list of what one --arch prints
        print(json.dumps([summary(rows, proxy.name, name, protocol) for name, (_, rows) in zip(names, results,
                                                                                              strict=True)], indent=2))
    else:
        for name, (_, rows) in zip(names, results, strict=True):
            report(rows, proxy.name, name, protocol, as_json=args.json)
    return 0 if any(r.status == "done" for _, rows in results for r in rows) else 1


def report(rows: list[ResultRow], proxy: str, candidate: str, protocol: Protocol, *, as_json: bool) -> None:
    done = [r for r in rows if r.status == "done"]
    accs = [100 * r.test_acc for r in done if r.test_acc is not None]
    mean = statistics.fmean(accs) if accs else None
    std = statistics.pstdev(accs) if accs else None
    if as_json:
        print(json.dumps(summary(rows, proxy, candidate, protocol), indent=2))
        return
    for r in rows:
        result = f"test {100 * r.test_acc:.2f}%" if r.status == "done" else f"failed: {r.reason}"
        print(f"seed {r.seed}: {result}")
    if mean is not None:
        print(f"{proxy} · {candidate} · protocol {protocol.name or 'custom'} ({protocol.total_epochs} epochs, aug "
              f"{protocol.augment}): test accuracy {mean:.2f} ± {std:.2f} % over {len(accs)} run(s)")
    else:
        print(f"{proxy}: every run failed")


def summary(rows: list[ResultRow], proxy: str, candidate: str, protocol: Protocol) -> dict:
    """What ``--json`` prints for one candidate."""
    accs = [100 * r.test_acc for r in rows if r.status == "done" and r.test_acc is not None]
    return {"proxy": proxy, "candidate": candidate, "protocol_name": protocol.name,
            "protocol": protocol.settings(), "protocol_key": protocol.key(),
            "test_acc_mean": statistics.fmean(accs) if accs else None,
            "test_acc_std": statistics.pstdev(accs) if accs else None,
            "runs": [{"seed": r.seed, "status": r.status, "test_acc": r.test_acc,
                      "val_acc": r.val_acc, "reason": r.reason} for r in rows]}
