"""Train candidates on a training set and keep every finished one in the results store (resumable)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from proxynas.datasets.base import TensorSet
from proxynas.engine import Job, Outcome, Protocol, describe, run_jobs
from proxynas.engine.fit import Augment
from proxynas.store import ResultRow, ResultsStore


@dataclass(frozen=True)
class Plan:
    """What to train: candidates x seeds of one space on one training set under one protocol."""

    space: Any  # search_spaces.SearchSpace
    candidates: Sequence[Any]
    protocol: Protocol
    seeds: int
    trainset: str  # a proxy name or 'full_{dataset}'
    dataset: str

    def jobs(self) -> list[Job]:
        return [Job(c, self.protocol.seed + s) for c in self.candidates for s in range(self.seeds)]


def train_into_store(
    plan: Plan,
    store: ResultsStore,
    train: TensorSet,
    val: TensorSet,
    test: TensorSet,
    *,
    fresh: bool = False,
    max_models: int = 1,
    augment: Augment | None = None,
    on_outcome: Callable[[Outcome], None] | None = None,
    on_epoch: Callable[[list[Job], int, Any], None] | None = None,
) -> list[Job]:
    """Train the plan's unfinished jobs, committing each outcome as it arrives. Returns the jobs trained.

    ``train``, ``val`` and ``test`` must already be on the device to train on.
    """
    space_name, key = plan.space.name, plan.protocol.key()
    jobs = plan.jobs()
    if fresh:
        store.delete(space_name, plan.trainset, key, [(j.candidate.id, j.seed) for j in jobs])
    done = store.finished(space_name, plan.trainset, key)
    todo = [j for j in jobs if (j.candidate.id, j.seed) not in done]
    store.save_protocol(key, plan.protocol.settings())
    device = describe(train.device)
    for outcome in run_jobs(todo, plan.space, train, val, test, plan.protocol,
                            max_models=max_models, augment=augment, on_epoch=on_epoch):
        store.put(ResultRow(
            space=space_name, candidate=outcome.job.candidate.id, trainset=plan.trainset, protocol=key,
            seed=outcome.job.seed, dataset=plan.dataset, status=outcome.status, val_acc=outcome.val_acc,
            test_acc=outcome.test_acc, train_loss=outcome.train_loss, seconds=outcome.seconds,
            epochs=outcome.epochs, reason=outcome.reason, device=device))
        if on_outcome is not None:
            on_outcome(outcome)
    return todo
