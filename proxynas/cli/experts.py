"""``proxynas experts``: train the expert trajectories MTT and FTD distill from (:mod:`condensed.experts`).

``proxynas experts --dataset cifar10 --net dc_convnet:d3_w128_relu_instancenorm_avgpool --experts 100
--epochs 50 [--zca] [--optimizer gsam]`` trains experts with seeds ``--seed`` .. ``--seed + N - 1`` on the
training split through the engine (``--stack``, ``--executor``, ``--workers`` as for a search), saving
every epoch under the home (``experts/{dataset}/{set}/``) and scoring each finished expert on the test
split. A rerun resumes: finished epochs are kept, a killed expert continues from its last saved epoch.
"""

from __future__ import annotations

import argparse
import sys

from condensed.experts import ExpertSettings, open_set, train_experts
from condensed.synthetic import DEFAULT_NET
from proxynas import paths
from proxynas.cli.options import add_data_options, add_executor_options, executor_from
from proxynas.cli.progress import bar
from proxynas.datasets import dataset_info, load_dataset
from proxynas.datasets.zca import whiten, zca_for
from proxynas.engine import resolve_device
from proxynas.errors import ProxynasError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("experts", help="train expert trajectories for MTT / FTD",
                       description="Train networks on the full training split as MTT's buffer.py (or FTD's "
                                   "buffer_FTD.py with --optimizer gsam) does, saving their parameters every epoch.")
    p.add_argument("--dataset", required=True)
    p.add_argument("--net", default=DEFAULT_NET, help=f"space:candidate (default: {DEFAULT_NET})")
    p.add_argument("--experts", type=int, default=1, help="how many experts (the references train 100)")
    p.add_argument("--epochs", type=int, default=50, help="epochs per expert (default: 50, the references')")
    p.add_argument("--seed", type=int, default=0, help="seed of the first expert (default: 0)")
    p.add_argument("--optimizer", choices=("sgd", "gsam"), default="sgd", help="sgd: MTT; gsam: FTD")
    p.add_argument("--zca", action="store_true", help="train on ZCA-whitened images (MTT's --zca)")
    p.add_argument("--lr", type=float, default=0.01, help="--lr_teacher (default: 0.01)")
    add_data_options(p)
    add_executor_options(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.experts < 1:
        raise ProxynasError(f"--experts must be at least 1, got {args.experts}", "pass --experts 1 or more")
    if args.epochs < 1:
        raise ProxynasError(f"--epochs must be at least 1, got {args.epochs}", "pass --epochs 1 or more")
    settings = ExpertSettings(net=args.net, zca=args.zca, optimizer=args.optimizer, lr=args.lr)
    splits = load_dataset(args.dataset, args.data_root)
    info = dataset_info(splits.name)
    home = paths.home()
    experts = open_set(home, splits.name, splits.train, settings, create=True)
    train, test = splits.train, splits.test
    if settings.zca:
        zca = zca_for(train, info, settings.zca_eps, home / "zca")
        train, test = whiten(train, info, zca), whiten(test, info, zca)
    seeds = list(range(args.seed, args.seed + args.experts))
    device = resolve_device(args.device)
    print(f"{args.experts} {settings.optimizer} expert(s) of {settings.net} on {splits.name} "
          f"({len(train)} images{', ZCA' if settings.zca else ''}), {args.epochs} epochs, into {experts.root}",
          file=sys.stderr)
    with bar(total=len(seeds) * args.epochs, desc="experts", unit="epoch") as progress:
        train_experts(experts, train, info, settings, seeds, args.epochs, device=device, test=test,
                      executor=executor_from(args), stack=args.stack,
                      progress=lambda done, total: progress.update(done - progress.n))
    print(f"{len(experts.seeds(args.epochs))} expert(s) with {args.epochs} epochs in {experts.root}")
    return 0
