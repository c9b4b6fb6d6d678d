"""``proxynas evaluate --proxy NAME``: the condensation papers' number for a proxy.

Trains one network (default: the DC default ConvNet) on the proxy ``--runs`` times, seeds 0, 1, ...,
with the reference protocol (SGD, 300 epochs; 1000 with DSA augmentation) and reports the test
accuracy's mean and standard deviation (population std, as the reference scripts print). Every run is
a row of the results store (training set = the proxy's name), so a rerun only trains what is missing.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys

from proxynas.cli.options import add_data_options, add_executor_options, executor_from, open_results
from proxynas.cli.progress import bar
from proxynas.cli.resolve import proxy_and_splits
from proxynas.engine import Protocol
from proxynas.errors import ProxynasError
from proxynas.runs import Plan, TrainingData, pending, plan_rows, train_into_store
from proxynas.store import ResultRow
from search_spaces import get_space

EPOCHS = {"none": 300, "dsa": 1000}  # the reference evaluation protocol


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="train a network on a proxy N times: test accuracy mean ± std",
                       description="Train one architecture on a proxy with the reference protocol, "
                                   "several seeds, and report the test accuracy as the papers do.")
    p.add_argument("--proxy", required=True, help="proxy name, e.g. dc_fashion_mnist_ipc10")
    p.add_argument("--space", default="dc_convnet", help="search space of --arch (default: dc_convnet)")
    p.add_argument("--arch", help="candidate id (default: the space's default, the DC ConvNet)")
    p.add_argument("--runs", type=int, default=5, help="networks trained, seeds 0..runs-1 (default: 5)")
    p.add_argument("--aug", default="none", choices=sorted(EPOCHS), help="training augmentation")
    p.add_argument("--epochs", type=int, help="training epochs (default: 300, or 1000 with --aug dsa)")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--fresh", action="store_true", help="retrain runs already in the store")
    p.add_argument("--json", action="store_true", help="print machine-readable results")
    add_data_options(p)
    add_executor_options(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.runs < 1:
        raise ProxynasError(f"--runs must be at least 1, got {args.runs}", "pass --runs 1 or more")
    space = get_space(args.space)
    candidate = space.parse(args.arch) if args.arch else space.default()
    protocol = evaluation_protocol(args)
    executor = executor_from(args)
    proxy, splits = proxy_and_splits(args.proxy, data_root=args.data_root)
    plan = Plan(space, [candidate], protocol, args.runs, trainset=proxy.name, dataset=splits.name)
    with open_results() as store:
        todo = len(pending(plan, store, fresh=args.fresh))
        if not args.json:
            print(f"{proxy.name}: {candidate.id} x {args.runs} run(s), {protocol.epochs} epochs on "
                  f"{len(proxy.data)} images; {args.runs - todo} in the store, {todo} to train",
                  file=sys.stderr)
        with bar(total=todo * protocol.epochs, desc=proxy.name, unit="epoch") as progress:
            train_into_store(plan, store, TrainingData(proxy.data, splits.val, splits.test), executor=executor,
                             max_models=args.stack, fresh=args.fresh,
                             on_epoch=lambda end: progress.update(len(end.jobs)))
        rows = sorted(plan_rows(store, plan), key=lambda r: r.seed)
    report(rows, proxy.name, candidate.id, protocol, as_json=args.json)
    return 0 if any(r.status == "done" for r in rows) else 1


def evaluation_protocol(args: argparse.Namespace) -> Protocol:
    """The reference protocol: 300 epochs, 1000 with DSA augmentation, unless ``--epochs`` says."""
    return Protocol(epochs=args.epochs or EPOCHS[args.aug], batch_size=args.batch_size, lr=args.lr,
                    augment=args.aug)


def report(rows: list[ResultRow], proxy: str, candidate: str, protocol: Protocol, *, as_json: bool) -> None:
    done = [r for r in rows if r.status == "done"]
    accs = [100 * r.test_acc for r in done if r.test_acc is not None]
    mean = statistics.fmean(accs) if accs else None
    std = statistics.pstdev(accs) if accs else None
    if as_json:
        print(json.dumps({"proxy": proxy, "candidate": candidate, "protocol": protocol.settings(),
                          "protocol_key": protocol.key(), "test_acc_mean": mean, "test_acc_std": std,
                          "runs": [{"seed": r.seed, "status": r.status, "test_acc": r.test_acc,
                                    "val_acc": r.val_acc, "reason": r.reason} for r in rows]}, indent=2))
        return
    for r in rows:
        result = f"test {100 * r.test_acc:.2f}%" if r.status == "done" else f"failed: {r.reason}"
        print(f"seed {r.seed}: {result}")
    if mean is not None:
        print(f"{proxy} · {candidate} · {protocol.epochs} epochs, aug {protocol.augment}: "
              f"test accuracy {mean:.2f} ± {std:.2f} % over {len(accs)} run(s)")
    else:
        print(f"{proxy}: every run failed")
