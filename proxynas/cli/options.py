"""Options shared by the commands that train candidates, and their resolution into objects."""

from __future__ import annotations

import argparse

from proxynas import paths
from proxynas.augment import AUGMENTS
from proxynas.engine import Protocol
from proxynas.engine.checkpoint import CheckpointSettings
from proxynas.engine.executors import EXECUTORS, ExecutorOptions, executor_flags, list_executors, own_flags
from proxynas.errors import ProxynasError
from proxynas.presets import list_presets
from proxynas.proxies import ProxyCard
from proxynas.spaces import Candidate, Choice, SearchSpace
from proxynas.store import ResultsStore
from proxynas.transfer import proxy_protocol


def add_data_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-root", help="dataset folder (torchvision layout); default $PROXYNAS_DATA "
                                       "or the user data dir")
    p.add_argument("--device", default="auto", help="cpu, cuda or auto (default: cuda when present)")


def add_executor_options(p: argparse.ArgumentParser) -> None:
    """How the planned stacks are run: here (threads) or elsewhere; each registered executor's own options
    are its flags (``engine.executors.flag``). The name is checked when the run starts (``executor_from``),
    so an executor registered late (a plugin) is accepted and a wrong one is one line listing the others."""
    p.add_argument("--stack", type=int, metavar="G", help="models trained at once (default: engine's choice)")
    p.add_argument("--memory-budget", type=float, metavar="F",
                   help="size stacks to fraction F of the device's free memory, predicted before each stack "
                        "is built (default: 0.8 on CUDA; on the CPU stacks are sized by count)")
    p.add_argument("--executor", default="local", metavar="NAME",
                   help=f"who trains the stacks: {', '.join(list_executors())} (local: threads of this process, "
                        "the default)")
    p.add_argument("--workers", type=int, metavar="N", help="local: stacks trained side by side")
    for name, f in executor_flags():
        p.add_argument(f.metadata["flag"], dest=f.name, default=None, help=f"{name}: {f.metadata['help']}",
                       **f.metadata["argparse"])
    p.add_argument("--checkpoint-epochs", type=int, default=CheckpointSettings.every_epochs, metavar="N",
                   help="a training stack saves its state every N epochs (0: not by epochs, the default); a killed "
                        "run resumes it from there (under $PROXYNAS_HOME/checkpoints)")
    p.add_argument("--checkpoint-minutes", type=float, default=CheckpointSettings.every_minutes, metavar="M",
                   help=f"a training stack saves its state every M minutes (default "
                        f"{CheckpointSettings.every_minutes:g}); 0 here and 0 epochs: no checkpoints")


def executor_from(args: argparse.Namespace) -> ExecutorOptions:
    """The options of the executor ``--executor`` names, from its flags; another executor's flag is an error."""
    kind = EXECUTORS.get(args.executor)
    mine = {f.name for f in own_flags(kind.options)}
    for name, f in executor_flags():
        if f.name not in mine and getattr(args, f.name, None) is not None:
            raise ProxynasError(f"{f.metadata['flag']} is an option of --executor {name}, not of "
                                f"--executor {args.executor}", f"pass --executor {name}, or leave it out")
    own = {name: getattr(args, name) for name in mine if getattr(args, name, None) is not None}
    return kind.options(name=args.executor, device=args.device, workers=args.workers,
                        memory_budget=args.memory_budget,
                        checkpoint=CheckpointSettings(args.checkpoint_epochs, args.checkpoint_minutes), **own)


def add_training_options(p: argparse.ArgumentParser, epochs: int) -> None:
    add_data_options(p)
    add_executor_options(p)
    p.add_argument("--space", default="dc_convnet", help="search space (default: dc_convnet)")
    p.add_argument("--sample", type=int, metavar="N", help="train N candidates drawn with --sample-seed")
    p.add_argument("--sample-seed", type=int, default=0)
    p.add_argument("--where", action="append", default=[], metavar="DIM=V[,V]",
                   help="keep candidates with these values, e.g. --where depth=3 --where act=relu,sigmoid")
    p.add_argument("--unique", action="store_true",
                   help="one candidate of each isomorphism class (nb201: 6,466 of 15,625 cells)")
    p.add_argument("--arch", action="append", default=[], metavar="ID", help="train this candidate (repeatable)")
    p.add_argument("--epochs", type=int, default=epochs, help=f"training epochs (default: {epochs})")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--aug", default="none", choices=AUGMENTS.names(), help="training augmentation")
    p.add_argument("--seeds", type=int, default=1, help="seeds per candidate (default: 1)")
    p.add_argument("--seed", type=int, default=0, help="first seed")
    p.add_argument("--top", type=int, default=10, help="rows of the ranking to print")
    p.add_argument("--fresh", action="store_true", help="retrain candidates already in the store")
    p.add_argument("--json", action="store_true", help="print machine-readable results")


def parse_where(items: list[str], space: SearchSpace) -> dict[str, list[Choice]]:
    filters: dict[str, list[Choice]] = {}
    for item in items:
        dim, sep, values = item.partition("=")
        if not sep or not values:
            raise ProxynasError(f"--where '{item}' is not DIM=VALUE",
                                "e.g. --where depth=3 or --where act=relu,sigmoid")
        if dim not in space.dimensions:
            raise ProxynasError(f"{space.name} has no dimension '{dim}'", f"dimensions: {', '.join(space.dimensions)}")
        kinds = {type(c) for c in space.dimensions[dim]}
        cast = int if kinds == {int} else str
        try:
            filters.setdefault(dim, []).extend(cast(v) for v in values.split(","))
        except ValueError:
            raise ProxynasError(f"--where {item}: {dim} takes integers",
                                f"choose from {space.dimensions[dim]}") from None
    return filters


def select_candidates(args: argparse.Namespace, space: SearchSpace) -> list[Candidate]:
    if args.arch:
        return [space.parse(a) for a in args.arch]
    filters = parse_where(args.where, space)
    if args.sample is not None:
        if args.sample < 1:
            raise ProxynasError(f"--sample must be at least 1, got {args.sample}", "pass --sample 1 or more")
        return space.sample(args.sample, args.sample_seed, unique=args.unique, **filters)
    return space.candidates(unique=args.unique, **filters)


def protocol_from(args: argparse.Namespace) -> Protocol:
    return Protocol(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, augment=args.aug, seed=args.seed)


def open_results() -> ResultsStore:
    return ResultsStore(paths.results_db(), paths.proxy_dir())


def add_evaluation_options(p: argparse.ArgumentParser, *, runs: str, protocol: str) -> None:
    """How ``evaluate`` and ``transfer`` train a network on a proxy: ``--runs``, ``--protocol``, ``--exact``,
    changes to the protocol (``--aug``, ``--epochs``, ``--batch-size``, ``--lr``) and ``--fresh``;
    :func:`checked_runs` and :func:`evaluation_protocol` read them back. ``runs``/``protocol``: the
    command's words for its runs and its default protocol."""
    p.add_argument("--runs", type=int, default=5, help=f"{runs}, seeds 0..runs-1 (default: 5)")
    p.add_argument("--protocol", choices=list_presets(), help=f"evaluation protocol {protocol}")
    p.add_argument("--exact", action="store_true",
                   help="the DC reference's own loop: epochs + 1, the drop after epoch epochs/2 + 1, "
                        "a new optimizer there (dc, dsa, dm)")
    p.add_argument("--aug", choices=AUGMENTS.names(), help="training augmentation (default: the protocol's)")
    p.add_argument("--epochs", type=int, help="training epochs (default: the protocol's)")
    p.add_argument("--batch-size", type=int, help="default: the protocol's")
    p.add_argument("--lr", type=float, help="default: the protocol's")
    p.add_argument("--fresh", action="store_true", help="retrain runs already in the store")


def checked_runs(args: argparse.Namespace) -> int:
    """``--runs``, at least 1."""
    if args.runs < 1:
        raise ProxynasError(f"--runs must be at least 1, got {args.runs}", "pass --runs 1 or more")
    return args.runs


def evaluation_protocol(args: argparse.Namespace, card: ProxyCard) -> tuple[Protocol, str]:
    """The protocol of the card's method (or ``--protocol``), with the options' changes; and why it."""
    changes = {"epochs": args.epochs, "lr": args.lr, "batch_size": args.batch_size, "augment": args.aug}
    return proxy_protocol(card, args.protocol, exact=args.exact, changes=changes)
