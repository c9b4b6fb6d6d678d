"""Plans (what to train: candidates x seeds on one training set under one protocol) and the one pipeline
call that trains a plan's unfinished jobs through an executor into the results store.

``search``, ``truth``, ``evaluate``, the demo, studies and the NNI bridge all train through
:func:`train_into_store`: it picks the augmentation the protocol names, skips what the store holds,
hands the rest to the executor (which places the data on the device) and commits every outcome as it
arrives. Only this caller, the driver, writes the store; a killed run resumes where it stopped.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from proxynas.augment import make_augment
from proxynas.datasets import dataset_info
from proxynas.datasets.base import TensorSet
from proxynas.engine import Job, Outcome, Protocol
from proxynas.engine.accel import Accel, regime_of
from proxynas.engine.checkpoint import Checkpoints, Cleanup
from proxynas.engine.executors import Executor, ExecutorOptions, make_executor
from proxynas.engine.memory import sized_by_memory
from proxynas.engine.run import EpochCallback, TrainingTask, plan_stacks
from proxynas.engine.stopping import Interrupted, StopRequest, on_signals
from proxynas.identity import published_identity
from proxynas.spaces import Candidate, StackBuilder
from proxynas.store import ResultRow, ResultsStore, name_identity

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Plan:
    """What to train: candidates x seeds of one space on one training set under one protocol."""

    space: StackBuilder  # a proxynas.spaces.SearchSpace (what the engine needs of one)
    candidates: Sequence[Candidate]
    protocol: Protocol
    seeds: int
    trainset: str  # a proxy name or 'full_{dataset}', for display
    dataset: str  # the dataset whose validation and test splits score the models
    imported: str | None = None  # rows stored under this named protocol (`proxynas truth import`), never trained
    fingerprint: str = ""  # the training set by content (proxynas.identity); '' keys rows by name alone
    regime: str | None = None  # the numeric regime its rows are trained in (None: found when training)

    def jobs(self) -> list[Job]:
        return [Job(c, self.protocol.seed + s) for c in self.candidates for s in range(self.seeds)]

    def key(self) -> str:
        """The protocol column of the plan's rows: the protocol's hash, or an imported truth's name."""
        return self.imported or self.protocol.key()

    def identity(self) -> str:
        """The trainset_id column of the plan's rows (``proxynas.identity``)."""
        if self.imported is not None:
            return published_identity(self.imported)
        return self.fingerprint or name_identity(self.trainset)

    def row_regime(self) -> str | None:
        return "published" if self.imported is not None else self.regime


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
    done = store.finished(plan.space.name, plan.identity(), plan.key(), plan.row_regime())
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
    stop: StopRequest | None = None,
    command: str = "train",
) -> list[Job]:
    """Train the plan's unfinished jobs, committing each outcome as it arrives. Returns the jobs trained.

    ``executor`` defaults to the local one on the data's device; ``max_models`` (models per stack) to
    the device's default (``engine.batching``). ``fresh`` retrains stored jobs too, deleting nothing:
    each new row replaces its old one as it arrives, and the old rows not replaced yet stay marked to
    retrain (``ResultsStore.mark_retrain``), so a run stopped half-way resumes the retraining.
    The plan's regime, when it names none, is the one ``accel`` gives on the executor's device. The run
    is a step of the store (``command``, its wall time).

    Stopping (``engine.stopping``): without ``stop``, the first SIGINT or SIGTERM received by the main
    thread lets the running stacks finish and stores them, the second stops them at once. Either way
    every finished outcome is stored, then :class:`~proxynas.engine.stopping.Interrupted` is raised.
    """
    if plan.imported is not None:
        raise ValueError(f"plan {plan.imported} is an imported truth: it is read, never trained")
    if not isinstance(executor, Executor):
        executor = make_executor(executor)
    plan = with_regime(plan, executor, data, accel)
    todo = pending(plan, store, fresh=fresh)
    identity, regime = plan.identity(), plan.row_regime()
    store.save_protocol(plan.key(), plan.protocol.describe())
    if not todo:
        return todo
    # stored rows this run replaces: marked when its first outcome arrives (an executor that fails to
    # start changes nothing), unmarked one by one as each is replaced
    replaced = [(j.candidate.id, j.seed) for j in todo] if fresh else []
    stack = max_models or executor.default_stack_size(data.train.device)
    augment = make_augment(plan.protocol.augment, dataset_info(plan.dataset))
    checkpoints = None
    if executor.checkpoint is not None and executor.checkpoint.enabled:  # stacks save; found by content
        checkpoints = Checkpoints(executor.checkpoint, plan.space.name, identity, plan.key(), regime or "")
    task = TrainingTask(plan.space, data.train, data.val, data.test, plan.protocol, augment, accel, checkpoints)
    stacks = sized_by_memory(plan_stacks(todo, plan.space, stack, data.train.shape), task, executor, accel)
    if checkpoints is not None:
        stacks = checkpoints.replan(stacks)
    signals = on_signals(StopRequest()) if stop is None else contextlib.nullcontext(stop)
    step = store.begin_step(command, plan.trainset, identity, plan.key(), regime or "")
    start, stored, cleanup = time.perf_counter(), 0, Cleanup()
    with signals as stop:
        executor.stop = stop
        try:
            for outcome in executor.run(task, stacks, on_epoch):
                if replaced:
                    store.mark_retrain(plan.space.name, identity, plan.key(), regime or "", replaced)
                    replaced = []
                if outcome.regime != regime:
                    log.warning("%s trained in %s, not %s as planned: stored as %s", outcome.job.candidate.id,
                                outcome.regime, regime, outcome.regime)
                store_outcome(store, plan, outcome, identity, step)
                cleanup.outcome_stored(outcome.checkpoint)  # a stack's checkpoint goes once all of it is stored
                stored += 1
                if on_outcome is not None:
                    on_outcome(outcome)
        finally:
            executor.stop = None
            store.end_step(step, time.perf_counter() - start, stored)
    if stop.asked:
        raise Interrupted(stop.reason, stored, len(todo) - stored)
    return todo


def store_outcome(store: ResultsStore, plan: Plan, outcome: Outcome, identity: str, step: int | None) -> None:
    store.put(ResultRow(
        space=plan.space.name, candidate=outcome.job.candidate.id, trainset=plan.trainset,
        protocol=plan.key(), seed=outcome.job.seed, dataset=plan.dataset, status=outcome.status,
        val_acc=outcome.val_acc, test_acc=outcome.test_acc, train_loss=outcome.train_loss,
        seconds=outcome.seconds, epochs=outcome.epochs, reason=outcome.reason, device=outcome.device,
        trainset_id=identity, regime=outcome.regime, cost_method=outcome.cost_method, step=step))


def with_regime(plan: Plan, executor: Executor, data: TrainingData, accel: Accel | None) -> Plan:
    """``plan`` naming the regime its rows train in: the one it names, else ``accel``'s on the executor's
    device (the workers' kind of device for Ray)."""
    if plan.row_regime() is not None:
        return plan
    return replace(plan, regime=regime_of(accel, executor.target_device(data.train.device)))


def plan_rows(store: ResultsStore, plan: Plan) -> list[ResultRow]:
    """The stored rows of the plan's jobs, by candidate and seed (an imported truth: every seed it has)."""
    where = {"space": plan.space.name, "trainset_id": plan.identity(), "protocol": plan.key()}
    regime = plan.row_regime()
    rows = store.rows(**where, **({} if regime is None else {"regime": regime}))
    if plan.imported is not None:
        candidates = {c.id for c in plan.candidates}
        return [r for r in rows if r.candidate in candidates]
    wanted = {(j.candidate.id, j.seed) for j in plan.jobs()}
    return [r for r in rows if (r.candidate, r.seed) in wanted]
