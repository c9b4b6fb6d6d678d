"""Train one candidate on a proxy into the results store, scoring it on validation data every epoch.

The same code serves an HPO trial and the NAS evaluator, and it writes the same rows as
``proxynas search`` (same space, proxy and protocol key), so each reuses what the other trained.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from proxynas import paths
from proxynas.datasets import load_dataset
from proxynas.datasets.zca import whiten_like
from proxynas.engine import EpochEnd, Protocol, accuracy, resolve_device
from proxynas.engine.executors import SerialExecutor
from proxynas.engine.stopping import StopRequest
from proxynas.errors import ProxynasError
from proxynas.identity import set_identity
from proxynas.plans import Plan, TrainingData, plan_rows, train_into_store, with_regime
from proxynas.proxies import ProxyLibrary
from proxynas.spaces import Candidate, SearchSpace
from proxynas.store import ResultRow, ResultsStore

EpochScore = Callable[[int, float], None]  # (epoch counted from 1, validation accuracy)


@dataclass(frozen=True)
class ProxyTraining:
    """Where and how a candidate trains: a stored proxy, a protocol, the dataset it is scored on."""

    proxy: str
    protocol: Protocol
    data_root: str | None = None
    device: str = "auto"


def train_candidate(candidate: Candidate, space: SearchSpace, setup: ProxyTraining,
                    on_epoch: EpochScore | None = None) -> ResultRow:
    """Train ``candidate`` on the proxy (unless the store has it already) and return its stored row.

    After every epoch the stack is scored on the validation split and ``on_epoch`` gets the score; the
    models trained are exactly those ``proxynas search`` trains (scoring draws no random numbers).
    """
    proxy = ProxyLibrary(paths.proxy_dir()).load(setup.proxy)
    splits = load_dataset(proxy.card.dataset, setup.data_root)
    if proxy.data.shape != splits.shape or proxy.data.num_classes != splits.num_classes:
        raise ProxynasError(f"proxy {proxy.name} holds {proxy.data.shape} images of {proxy.data.num_classes} "
                            f"classes, but {splits.name} has {splits.shape} and {splits.num_classes}",
                            "make the proxy again from this dataset")
    splits = whiten_like(proxy.card, splits, paths.home() / "zca")  # MTT/FTD sets made on ZCA'd images
    protocol = setup.protocol
    device = resolve_device(setup.device)
    val = splits.val.to(device)

    def score(end: EpochEnd) -> None:
        if on_epoch is not None:
            on_epoch(end.epoch + 1, float(accuracy(end.stack, val, len(end.jobs))[0]))

    plan = Plan(space, [candidate], protocol, seeds=1, trainset=proxy.name, dataset=splits.name,
                fingerprint=set_identity(proxy.data))
    data = TrainingData(proxy.data.to(device), val, splits.test.to(device))
    executor = SerialExecutor()
    plan = with_regime(plan, executor, data, None)
    with ResultsStore(paths.results_db(), paths.proxy_dir()) as store:
        # a trial is one stack: NNI's SIGTERM ends it as before (no signal handlers: engine.stopping)
        train_into_store(plan, store, data, executor=executor, on_epoch=score, command="nni", stop=StopRequest())
        rows = [r for r in plan_rows(store, plan) if r.seed == protocol.seed]
    return rows[0]
