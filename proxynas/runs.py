"""The one pipeline call: train a plan's unfinished jobs through an executor into the results store.

``search``, ``truth``, ``evaluate``, the demo, studies and the NNI bridge all train through
:func:`train_into_store`: it picks the augmentation the protocol names, skips what the store holds,
hands the rest to the executor (which places the data on the device) and commits every outcome as it
arrives. Only this caller, the driver, writes the store; a killed run resumes where it stopped.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from proxynas.augment import make_augment
from proxynas.datasets import dataset_info
from proxynas.datasets.base import TensorSet
from proxynas.engine import Job, Outcome, Protocol
from proxynas.engine.accel import Accel
from proxynas.engine.executors import Executor, ExecutorOptions, make_executor
from proxynas.engine.memory import sized_by_memory
from proxynas.engine.run import EpochCallback, TrainingTask, plan_stacks
from proxynas.spaces import Candidate, StackBuilder
from proxynas.store import ResultRow, ResultsStore


@dataclass(frozen=True)
class Plan:
    """What to train: candidates x seeds of one space on one training set under one protocol."""

    space: StackBuilder  # a proxynas.spaces.SearchSpace (what the engine needs of one)
    candidates: Sequence[Candidate]
    protocol: Protocol
    seeds: int
    trainset: str  # a proxy name or 'full_{dataset}'
    dataset: str  # the dataset whose validation and test splits score the models
    imported: str | None = None  # rows stored under this named protocol (`proxynas truth import`), never trained

    def jobs(self) -> list[Job]:
        return [Job(c, self.protocol.seed + s) for c in self.candidates for s in range(self.seeds)]

    def key(self) -> str:
        """The protocol column of the plan's rows: the protocol's hash, or an imported truth's name."""
        return self.imported or self.protocol.key()


@dataclass(frozen=True)
class TrainingData:
    """The tensors a plan trains on and is scored on (on the CPU or already on the device)."""

    train: TensorSet
    val: TensorSet
    test: TensorSet


def pending(plan: Plan, store: ResultsStore, *, fresh: bool = False) -> list[Job]:
    """The plan's jobs the store does not hold yet (all of them with ``fresh``)."""
    jobs = plan.jobs()
    if fresh:
        return jobs
    done = store.finished(plan.space.name, plan.trainset, plan.key())
    if plan.imported is not None:  # a source's own seeds: any seed of a candidate counts
        have = {candidate for candidate, _ in done}
        return [j for j in jobs if j.candidate.id not in have]
    return [j for j in jobs if (j.candidate.id, j.seed) not in done]


def train_into_store(
    plan: Plan,
    store: ResultsStore,
    data: TrainingData,
    *,
    executor: Executor | ExecutorOptions | None = None,
    max_models: int | None = None,
    accel: Accel | None = None,
    fresh: bool = False,
    on_outcome: Callable[[Outcome], None] | None = None,
    on_epoch: EpochCallback | None = None,
) -> list[Job]:
    """Train the plan's unfinished jobs, committing each outcome as it arrives. Returns the jobs trained.

    ``executor`` defaults to the local one on the data's device; ``max_models`` (models per stack) to
    the device's default (``engine.batching``).
    """
    if plan.imported is not None:
        raise ValueError(f"plan {plan.imported} is an imported truth: it is read, never trained")
    if not isinstance(executor, Executor):
        executor = make_executor(executor)
    todo = pending(plan, store, fresh=fresh)
    if fresh:
        store.delete(plan.space.name, plan.trainset, plan.key(), [(j.candidate.id, j.seed) for j in todo])
    store.save_protocol(plan.key(), plan.protocol.describe())
    if not todo:
        return todo
    stack = max_models or executor.default_stack_size(data.train.device)
    augment = make_augment(plan.protocol.augment, dataset_info(plan.dataset))
    task = TrainingTask(plan.space, data.train, data.val, data.test, plan.protocol, augment, accel)
    stacks = plan_stacks(todo, plan.space, stack, data.train.shape)
    stacks = sized_by_memory(stacks, task, executor, accel)
    for outcome in executor.run(task, stacks, on_epoch):
        store.put(ResultRow(
            space=plan.space.name, candidate=outcome.job.candidate.id, trainset=plan.trainset,
            protocol=plan.key(), seed=outcome.job.seed, dataset=plan.dataset, status=outcome.status,
            val_acc=outcome.val_acc, test_acc=outcome.test_acc, train_loss=outcome.train_loss,
            seconds=outcome.seconds, epochs=outcome.epochs, reason=outcome.reason, device=outcome.device))
        if on_outcome is not None:
            on_outcome(outcome)
    return todo


def plan_rows(store: ResultsStore, plan: Plan) -> list[ResultRow]:
    """The stored rows of the plan's jobs, by candidate and seed (an imported truth: every seed it has)."""
    rows = store.rows(space=plan.space.name, trainset=plan.trainset, protocol=plan.key())
    if plan.imported is not None:
        candidates = {c.id for c in plan.candidates}
        return [r for r in rows if r.candidate in candidates]
    wanted = {(j.candidate.id, j.seed) for j in plan.jobs()}
    return [r for r in rows if (r.candidate, r.seed) in wanted]
