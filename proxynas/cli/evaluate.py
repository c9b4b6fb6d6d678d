"""``proxynas evaluate --proxy NAME``: the condensation papers' number for a proxy.

Trains one network (default: the DC default ConvNet) on the proxy ``--runs`` times, seeds 0, 1, ...,
with the evaluation protocol of the method that made the proxy, as its paper's code trains
(:mod:`proxynas.protocols`: ``dc``, ``dsa``, ``dm``, ``idc``; coresets with ``dc``), and reports the
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

from proxynas.augment import AUGMENTS
from proxynas.cli.options import add_data_options, add_executor_options, executor_from, open_results
from proxynas.cli.progress import bar
from proxynas.cli.resolve import proxy_and_splits
from proxynas.engine import Protocol
from proxynas.engine.executors import make_executor
from proxynas.errors import ProxynasError
from proxynas.identity import set_identity
from proxynas.protocols import list_protocols, method_protocol, protocol_for
from proxynas.proxies import ProxyCard
from proxynas.runs import Plan, TrainingData, pending, plan_rows, train_into_store, with_regime
from proxynas.store import ResultRow
from search_spaces import get_space


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="train a network on a proxy N times: test accuracy mean ± std",
                       description="Train one architecture on a proxy with its method's evaluation protocol, "
                                   "several seeds, and report the test accuracy as the papers do.")
    p.add_argument("--proxy", required=True, help="proxy name, e.g. dc_fashion_mnist_ipc10")
    p.add_argument("--space", default="dc_convnet", help="search space of --arch (default: dc_convnet)")
    p.add_argument("--arch", help="candidate id (default: the space's default, the DC ConvNet)")
    p.add_argument("--runs", type=int, default=5, help="networks trained, seeds 0..runs-1 (default: 5)")
    p.add_argument("--protocol", choices=list_protocols(),
                   help="evaluation protocol (default: the one of the method that made the proxy)")
    p.add_argument("--exact", action="store_true",
                   help="the DC reference's own loop: epochs + 1, the drop after epoch epochs/2 + 1, "
                        "a new optimizer there (dc, dsa, dm)")
    p.add_argument("--aug", choices=AUGMENTS.names(), help="training augmentation (default: the protocol's)")
    p.add_argument("--epochs", type=int, help="training epochs (default: the protocol's)")
    p.add_argument("--batch-size", type=int, help="default: the protocol's")
    p.add_argument("--lr", type=float, help="default: the protocol's")
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
    executor = executor_from(args)
    proxy, splits = proxy_and_splits(args.proxy, data_root=args.data_root)
    protocol, why = evaluation_protocol(args, proxy.card)
    plan = Plan(space, [candidate], protocol, args.runs, trainset=proxy.name, dataset=splits.name,
                fingerprint=set_identity(proxy.data))
    runner = make_executor(executor)
    plan = with_regime(plan, runner, TrainingData(proxy.data, splits.val, splits.test), None)
    with open_results() as store:
        todo = len(pending(plan, store, fresh=args.fresh))
        if not args.json:
            print(f"protocol {protocol.name or 'custom'} [{protocol.key()}] ({why}): {protocol.summary()}",
                  file=sys.stderr)
            print(f"{proxy.name}: {candidate.id} x {args.runs} run(s) on {len(proxy.data)} images; "
                  f"{args.runs - todo} in the store, {todo} to train", file=sys.stderr)
        with bar(total=todo * protocol.total_epochs, desc=proxy.name, unit="epoch") as progress:
            train_into_store(plan, store, TrainingData(proxy.data, splits.val, splits.test), executor=runner,
                             max_models=args.stack, fresh=args.fresh,
                             on_epoch=lambda end: progress.update(len(end.jobs)), command="evaluate")
        rows = sorted(plan_rows(store, plan), key=lambda r: r.seed)
    report(rows, proxy.name, candidate.id, protocol, as_json=args.json)
    return 0 if any(r.status == "done" for r in rows) else 1


def evaluation_protocol(args: argparse.Namespace, card: ProxyCard) -> tuple[Protocol, str]:
    """The protocol of the card's method (or ``--protocol``), with the options' changes; and why it."""
    if args.protocol:
        name, why = args.protocol, "--protocol"
    else:
        name = method_protocol(card.method)
        if name is None:
            raise ProxynasError(f"no evaluation protocol is known for method '{card.method}' of this proxy",
                                f"pass --protocol, one of {', '.join(list_protocols())}")
        why = f"the proxy's method is {card.method}"
    facts = {"ipc": card.ipc, "factor": card.settings.get("factor", 1), "method": card.method,
             "syn_lr": (card.settings.get("learned") or {}).get("syn_lr")}
    protocol = protocol_for(name, card.dataset, facts, exact=args.exact)
    changed = protocol.with_(epochs=args.epochs, lr=args.lr, batch_size=args.batch_size, augment=args.aug)
    if changed != protocol:
        changed, why = changed.with_(name=f"{name}, changed"), why + "; settings changed by the options"
    return changed, why


def report(rows: list[ResultRow], proxy: str, candidate: str, protocol: Protocol, *, as_json: bool) -> None:
    done = [r for r in rows if r.status == "done"]
    accs = [100 * r.test_acc for r in done if r.test_acc is not None]
    mean = statistics.fmean(accs) if accs else None
    std = statistics.pstdev(accs) if accs else None
    if as_json:
        print(json.dumps({"proxy": proxy, "candidate": candidate, "protocol_name": protocol.name,
                          "protocol": protocol.settings(), "protocol_key": protocol.key(),
                          "test_acc_mean": mean, "test_acc_std": std,
                          "runs": [{"seed": r.seed, "status": r.status, "test_acc": r.test_acc,
                                    "val_acc": r.val_acc, "reason": r.reason} for r in rows]}, indent=2))
        return
    for r in rows:
        result = f"test {100 * r.test_acc:.2f}%" if r.status == "done" else f"failed: {r.reason}"
        print(f"seed {r.seed}: {result}")
    if mean is not None:
        print(f"{proxy} · {candidate} · protocol {protocol.name or 'custom'} ({protocol.total_epochs} epochs, aug "
              f"{protocol.augment}): test accuracy {mean:.2f} ± {std:.2f} % over {len(accs)} run(s)")
    else:
        print(f"{proxy}: every run failed")
