"""Train one candidate on a proxy into the results store, scoring it on validation data every epoch.

The same code serves an HPO trial and the NAS evaluator, and it writes the same rows as
``proxynas search`` (same space, proxy and protocol key), so each reuses what the other trained.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from torch import Tensor, nn

from proxynas import paths
from proxynas.augment import make_augment
from proxynas.datasets import dataset_info, load_dataset
from proxynas.datasets.base import TensorSet
from proxynas.engine import Job, Protocol, accuracy, resolve_device
from proxynas.errors import ProxynasError
from proxynas.proxies import ProxyStore
from proxynas.runs import Plan, train_into_store
from proxynas.store import ResultRow, ResultsStore

EpochScore = Callable[[int, float], None]  # (epoch counted from 1, validation accuracy)


@dataclass(frozen=True)
class ProxyTraining:
    """Where and how a candidate trains: a stored proxy, a protocol, the dataset it is scored on."""

    proxy: str
    protocol: Protocol
    data_root: str | None = None
    device: str = "auto"


class EpochScoredSpace:
    """A search space whose stacks are scored on validation data after each epoch of their training.

    It stands in for the space in a :class:`~proxynas.runs.Plan`: the engine builds the stack through it,
    and :meth:`after_epoch` (the engine's ``on_epoch`` hook) scores that stack, then puts it back in
    training mode, so the trained models are exactly those ``proxynas search`` trains.
    """

    def __init__(self, space: Any, val: TensorSet,
                 on_score: Callable[[list[Job], int, Tensor], None]) -> None:
        self.space = space
        self.name = space.name
        self.val = val
        self.on_score = on_score
        self.stack: nn.Module | None = None

    def stack_key(self, candidate: Any) -> Any:
        return self.space.stack_key(candidate)

    def build_stack(self, candidates: Sequence[Any], seeds: Sequence[int],
                    input_shape: Sequence[int], num_classes: int) -> nn.Module:
        self.stack = self.space.build_stack(candidates, seeds, input_shape, num_classes)
        return self.stack

    def after_epoch(self, jobs: list[Job], epoch: int, losses: Tensor) -> None:
        assert self.stack is not None
        scores = accuracy(self.stack, self.val, len(jobs))
        self.stack.train()
        self.on_score(jobs, epoch, scores)


def train_candidate(candidate: Any, space: Any, setup: ProxyTraining,
                    on_epoch: EpochScore | None = None) -> ResultRow:
    """Train ``candidate`` on the proxy (unless the store has it already) and return its stored row."""
    device = resolve_device(setup.device)
    proxy = ProxyStore(paths.proxy_dir()).load(setup.proxy, device)
    splits = load_dataset(proxy.card.dataset, setup.data_root)
    if proxy.data.shape != splits.shape or proxy.data.num_classes != splits.num_classes:
        raise ProxynasError(f"proxy {proxy.name} holds {proxy.data.shape} images of {proxy.data.num_classes} "
                            f"classes, but {splits.name} has {splits.shape} and {splits.num_classes}",
                            "make the proxy again from this dataset")
    protocol = setup.protocol
    val = splits.val.to(device)

    def report(jobs: list[Job], epoch: int, scores: Tensor) -> None:
        if on_epoch is not None:
            on_epoch(epoch + 1, float(scores[0]))

    scored = EpochScoredSpace(space, val, report)
    plan = Plan(scored, [candidate], protocol, seeds=1, trainset=proxy.name, dataset=splits.name)
    augment = make_augment(protocol.augment, dataset_info(splits.name))
    with ResultsStore(paths.results_db()) as store:
        train_into_store(plan, store, proxy.data, val, splits.test.to(device), augment=augment,
                         on_epoch=scored.after_epoch)
        rows = store.rows(space=space.name, candidate=candidate.id, trainset=proxy.name,
                          protocol=protocol.key(), seed=protocol.seed)
    return rows[0]

