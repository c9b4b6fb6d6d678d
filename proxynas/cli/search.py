"""``proxynas search``: train the candidates of a space on a proxy and rank them."""

from __future__ import annotations

import argparse

from proxynas.cli.options import (
    add_training_options,
    executor_from,
    open_results,
    protocol_from,
    select_candidates,
)
from proxynas.cli.resolve import proxy_and_splits
from proxynas.cli.training import execute, print_json, print_ranking
from proxynas.identity import set_identity
from proxynas.plans import Plan, TrainingData
from search_spaces import get_space

DEFAULT_EPOCHS = 200  # the NAS studies on the 720 space train 200 epochs on the proxy


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("search", help="train candidates on a proxy and rank them",
                       description="Train the candidates of a search space on a proxy training set, "
                                   "score them on the held-out validation split and rank them.")
    p.add_argument("--proxy", required=True, help="proxy name, e.g. random_fashion_mnist_ipc50")
    add_training_options(p, epochs=DEFAULT_EPOCHS)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    space = get_space(args.space)
    candidates = select_candidates(args, space)
    protocol = protocol_from(args)
    executor = executor_from(args)
    proxy, splits = proxy_and_splits(args.proxy, data_root=args.data_root)
    plan = Plan(space, candidates, protocol, args.seeds, trainset=proxy.name, dataset=splits.name,
                fingerprint=set_identity(proxy.data))
    with open_results() as store:
        ranked = execute(plan, store, TrainingData(proxy.data, splits.val, splits.test), executor,
                         max_models=args.stack, fresh=args.fresh, quiet=args.json, command="search")
    if args.json:
        print_json(ranked, proxy=proxy.name, trainset_id=plan.fingerprint, space=space.name, dataset=splits.name,
                   protocol=protocol.settings(), protocol_key=protocol.key(), seeds=args.seeds)
    else:
        print_ranking(ranked, args.top, header=f"proxy {proxy.name} · {space.name} · "
                      f"{protocol.epochs} epochs · ranked by validation accuracy on {splits.name}")
    return 0
