"""``proxynas truth``: the expensive reference -- the same candidates trained on the full training split."""

from __future__ import annotations

import argparse

from proxynas.cli.options import (
    add_training_options,
    executor_from,
    open_results,
    protocol_from,
    select_candidates,
)
from proxynas.cli.training import execute, print_json, print_ranking
from proxynas.datasets import load_dataset
from proxynas.identity import split_identity
from proxynas.plans import Plan, TrainingData
from proxynas.store import truth_trainset
from search_spaces import get_space

DEFAULT_EPOCHS = 50


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("truth", help="train candidates on the full training split (ground truth)",
                       description="Train candidates on the whole training split: the ranking a proxy "
                                   "should reproduce. Results go to the same store as `search`.",
                       epilog="`proxynas truth import nb201|csv PATH --dataset D` stores published "
                              "accuracies as the ground truth instead (see `proxynas truth import -h`).")
    p.add_argument("--dataset", required=True, help="dataset name, e.g. fashion_mnist")
    add_training_options(p, epochs=DEFAULT_EPOCHS)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    space = get_space(args.space)
    candidates = select_candidates(args, space)
    protocol = protocol_from(args)
    executor = executor_from(args)
    splits = load_dataset(args.dataset, args.data_root)
    trainset = truth_trainset(splits.name)
    plan = Plan(space, candidates, protocol, args.seeds, trainset=trainset, dataset=splits.name,
                fingerprint=split_identity(splits))
    with open_results() as store:
        ranked = execute(plan, store, TrainingData(splits.train, splits.val, splits.test), executor,
                         max_models=args.stack, fresh=args.fresh, quiet=args.json, command="truth")
    if args.json:
        print_json(ranked, trainset=trainset, trainset_id=plan.fingerprint, space=space.name, dataset=splits.name,
                   protocol=protocol.settings(), protocol_key=protocol.key(), seeds=args.seeds)
    else:
        print_ranking(ranked, args.top, header=f"ground truth {trainset} · {space.name} · "
                      f"{protocol.epochs} epochs · ranked by validation accuracy")
    return 0
