"""``proxynas nni``: proxies inside NNI (space, trial, run, nas). NNI is imported only when needed."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import torch

from proxynas.atomic import atomic_write_text
from proxynas.cli.options import add_data_options, open_results, protocol_from
from proxynas.cli.resolve import proxy_library, resolve_proxy
from proxynas.cli.search import DEFAULT_EPOCHS
from proxynas.engine import Protocol
from proxynas.errors import ProxynasError
from search_spaces import SearchSpace, get_space, list_spaces

NEEDED = ("nni", "nni_node", "pytorch_lightning", "lightning", "pkg_resources")


def bridge(module: str) -> ModuleType:
    """``proxynas.nni.<module>``, or a clear error where NNI (or what it needs) is not installed."""
    try:
        return importlib.import_module(f"proxynas.nni.{module}")
    except ModuleNotFoundError as err:
        missing = (err.name or "").split(".")[0]
        if missing in NEEDED:
            raise ProxynasError(f"the NNI bridge needs '{missing}', which is not installed",
                                "pip install proxynas[nni]") from None
        raise


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("nni", help="run proxies as NNI trials or as NNI NAS evaluators",
                       description="Proxies inside NNI (pip install proxynas[nni]).")
    nni_sub = p.add_subparsers(dest="nni_command", metavar="SUBCOMMAND", required=True)

    s = nni_sub.add_parser("space", help="print a search space as NNI search-space JSON")
    s.add_argument("--space", default="dc_convnet", help=f"one of: {', '.join(list_spaces())}")
    s.add_argument("--output", metavar="FILE", help="write the JSON here instead of printing it")
    s.set_defaults(run=run_space)

    t = nni_sub.add_parser("trial", help="the trial NNI runs: train the tuner's candidate on a proxy",
                           description="Inside an NNI experiment the tuner picks the candidate; outside one, "
                                       "pass --arch to train that candidate the same way.")
    add_proxy_training_options(t)
    t.add_argument("--arch", metavar="ID", help="candidate to train when not inside an NNI experiment")
    t.add_argument("--threads", type=int, metavar="N", help="CPU threads for torch")
    t.set_defaults(run=run_trial)

    r = nni_sub.add_parser("run", help="run a local NNI HPO experiment over a space on a proxy")
    add_proxy_training_options(r)
    r.add_argument("--tuner", default="TPE", help="TPE, Random, GridSearch or Evolution (default: TPE)")
    add_experiment_options(r)
    r.add_argument("--concurrency", type=int, default=1, help="trials at once (default: 1)")
    r.add_argument("--port", type=int, default=8080, help="port of NNI's manager and web UI (default: 8080)")
    r.add_argument("--config-out", metavar="FILE", help="where to write the nnictl YAML config "
                                                        "(default: in the experiment's folder)")
    r.set_defaults(run=run_hpo)

    n = nni_sub.add_parser("nas", help="run an NNI NAS experiment (sequential engine) on a proxy")
    add_proxy_training_options(n)
    n.add_argument("--strategy", default="TPE", help="Random, GridSearch, RegularizedEvolution or TPE")
    add_experiment_options(n)
    n.set_defaults(run=run_nas)


def add_proxy_training_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--proxy", required=True, help="proxy name, e.g. random_digits_ipc10")
    p.add_argument("--space", default="dc_convnet", help="search space (default: dc_convnet)")
    add_data_options(p)
    p.add_argument("--epochs", type=int, default=DEFAULT_EPOCHS,
                   help=f"training epochs (default: {DEFAULT_EPOCHS}, as `proxynas search`)")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--aug", default="none", choices=["none", "dsa"], help="training augmentation")
    p.add_argument("--seed", type=int, default=0, help="seed of the models' weights and batch order")


def add_experiment_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--max-trials", type=int, default=10, help="candidates to train (default: 10)")
    p.add_argument("--search-seed", type=int, default=0, help="seed of the tuner or strategy")
    p.add_argument("--experiment-dir", help="NNI's experiment folder (default: ~/nni-experiments)")
    p.add_argument("--top", type=int, default=5, help="candidates to list at the end")


def run_space(args: argparse.Namespace) -> int:
    text = json.dumps(bridge("space").nni_search_space(get_space(args.space)), indent=2)
    if args.output:
        atomic_write_text(Path(args.output), text + "\n", what="the search space file")
        print(f"wrote {args.output}", file=sys.stderr)
    else:
        print(text)
    return 0


def run_trial(args: argparse.Namespace) -> int:
    trial, evaluate = bridge("trial"), bridge("evaluate")
    if args.threads is not None:
        torch.set_num_threads(max(1, args.threads))
    if not trial.inside_experiment():
        resolve_proxy(args.proxy, data_root=args.data_root)
    setup = evaluate.ProxyTraining(args.proxy, protocol_from(args), args.data_root, args.device)

    def show_epoch(epoch: int, val_acc: float) -> None:
        print(f"epoch {epoch}/{args.epochs}: val {100 * val_acc:.2f}%", file=sys.stderr)

    row = trial.run_trial(get_space(args.space), setup, arch=args.arch, on_epoch=show_epoch).row
    if row.status == "done":
        print(f"{row.candidate} on {row.trainset}: val {100 * row.val_acc:.2f}%, "
              f"test {100 * row.test_acc:.2f}%")
    else:
        print(f"{row.candidate} on {row.trainset}: failed: {row.reason}")
    return 0


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Let a SIGTERM unwind like Ctrl-C, so the NNI manager this process started is stopped too."""
    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class TrialPrinter:
    """Prints each trial once, when it finishes, and the experiment's status when it changes."""

    def __init__(self, max_trials: int) -> None:
        self.max_trials = max_trials
        self.reported: set[str] = set()
        self.status = ""

    def __call__(self, progress: Any) -> None:
        clock = f"[{progress.seconds:6.1f}s]"
        if progress.status != self.status:
            self.status = progress.status
            print(f"{clock} experiment {progress.experiment_id}: {progress.status}", file=sys.stderr)
        for trial in progress.trials:
            if trial.trial_id in self.reported or trial.status in ("WAITING", "RUNNING", "UNKNOWN"):
                continue
            self.reported.add(trial.trial_id)
            score = f"val {100 * trial.score:.2f}%" if trial.score is not None else "no result"
            print(f"{clock} trial {len(self.reported)}/{self.max_trials} {trial.status:<9} "
                  f"{trial.candidate or '?'}  {score}", file=sys.stderr)
            if trial.status != "SUCCEEDED":
                print(f"          its output: {progress.trial_log(trial.trial_id)}", file=sys.stderr)


def run_hpo(args: argparse.Namespace) -> int:
    experiment = bridge("experiment")
    space = get_space(args.space)
    experiment.check_port_free(args.port)
    proxy = resolve_proxy(args.proxy, data_root=args.data_root)
    settings = experiment.HpoSettings(
        proxy=proxy.name, space=space, tuner=args.tuner, max_trials=args.max_trials,
        concurrency=args.concurrency, port=args.port, protocol=protocol_from(args), data_root=args.data_root,
        device=args.device, experiment_dir=args.experiment_dir, seed=args.search_seed)
    print(f"NNI experiment: {args.tuner} over {space.name} on {proxy.name}, {args.max_trials} trials "
          f"({args.concurrency} at a time), web UI http://localhost:{args.port}", file=sys.stderr)
    with sigterm_as_interrupt():
        progress = experiment.run_hpo(settings, TrialPrinter(args.max_trials),
                                      Path(args.config_out) if args.config_out else None)
    ids = [t.candidate for t in progress.trials if t.candidate]
    failed = [t for t in progress.trials if t.status != "SUCCEEDED"]
    print(f"experiment {progress.experiment_id} {progress.status}: {len(progress.trials)} trials in "
          f"{progress.seconds:.1f}s, {len(failed)} not succeeded")
    print_summary(ids, space, proxy.name, proxy.card.dataset, settings.protocol, args.top)
    return 0 if ids else 1


def run_nas(args: argparse.Namespace) -> int:
    nas = bridge("nas")
    space = get_space(args.space)
    proxy = resolve_proxy(args.proxy, data_root=args.data_root)
    settings = nas.NasSettings(
        proxy=proxy.name, input_shape=proxy.card.shape, num_classes=proxy.card.num_classes,
        space=space.name, strategy=args.strategy, max_trials=args.max_trials, protocol=protocol_from(args),
        data_root=args.data_root, device=args.device, experiment_dir=args.experiment_dir,
        seed=args.search_seed)
    print(f"NNI NAS: {args.strategy} over {space.name} on {proxy.name}, {args.max_trials} models "
          "(sequential engine, in this process)", file=sys.stderr)
    with sigterm_as_interrupt():
        models = nas.run_nas(settings)
    print(f"NAS experiment done: {len(models)} models trained")
    ids = [candidate for candidate, _ in models]
    print_summary(ids, space, proxy.name, proxy.card.dataset, settings.protocol, args.top)
    return 0 if models else 1


def print_summary(candidates: list[str], space: SearchSpace, proxy: str, dataset: str, protocol: Protocol,
                  top: int) -> None:
    """The experiment's best candidates from the store, and how its pick compares with what it knows."""
    report = bridge("report")
    fingerprint = proxy_library().load(proxy).data.fingerprint()
    with open_results() as store:
        ranked = report.tried(store, space.name, fingerprint, protocol.key(), protocol.seed, candidates)
        if not ranked:
            print("no candidate finished; see the trial logs in the experiment's folder")
            return
        print(f"{'rank':>4}  {'candidate':<36} {'val acc':>8} {'test acc':>8}")
        for i, s in enumerate(ranked[:top], 1):
            print(f"{i:>4}  {s.candidate:<36} {100 * s.val_acc:>7.2f}% {100 * s.test_acc:>7.2f}%")
        pick = ranked[0].candidate
        standings = [report.exhaustive_standing(store, space.name, len(space), proxy, protocol.key(), pick,
                                                fingerprint),
                     report.truth_standing(store, space.name, dataset, pick)]
    print(f"pick: {pick}")
    for st in filter(None, standings):
        print(f"  {st.reference}: rank {st.rank} of {st.total} (val {100 * st.pick.val_acc:.2f}%, "
              f"test {100 * st.pick.test_acc:.2f}%); best there: {st.best.candidate} "
              f"(val {100 * st.best.val_acc:.2f}%, test {100 * st.best.test_acc:.2f}%)")
    if not any(standings):
        print(f"  (no exhaustive search or ground truth for {space.name} in the store to compare with; "
              f"`proxynas search --proxy {proxy}` or `proxynas truth --dataset {dataset}` makes them)")
