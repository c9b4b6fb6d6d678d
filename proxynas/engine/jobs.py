"""The one call that trains a list of jobs: stacks planned, an executor (the local one by default) runs them.

Apart from ``engine.run`` (what a stack is and how one trains) because it picks an executor, and the
executors run ``engine.run``'s stacks: kept here, neither imports the other back.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from proxynas.augment import Augment
from proxynas.datasets.base import TensorSet
from proxynas.engine.accel import Accel
from proxynas.engine.builder import StackBuilder
from proxynas.engine.executors import Executor, LocalExecutor
from proxynas.engine.protocol import Protocol
from proxynas.engine.run import EpochCallback, Job, Outcome, TrainingTask, plan_stacks
from proxynas.engine.snapshots import Snapshots


def run_jobs(
    jobs: Sequence[Job],
    space: StackBuilder,
    train: TensorSet,
    val: TensorSet,
    test: TensorSet,
    protocol: Protocol,
    *,
    max_models: int = 1,
    augment: Augment | None = None,
    on_epoch: EpochCallback | None = None,
    accel: Accel | None = None,
    workers: int | None = None,
    executor: Executor | None = None,
    snapshots: Snapshots | None = None,
) -> Iterator[Outcome]:
    """Train every job on ``train`` and score it on ``val`` and ``test`` (all on the device to train on).

    Stacks hold at most ``max_models`` jobs (:func:`plan_stacks`). ``executor`` (default: the local one
    with ``workers`` stacks side by side, see ``engine.executors``) runs them; outcomes come as stacks
    finish. ``on_epoch`` is called after every epoch of every stack, one call at a time. ``snapshots``
    keeps every epoch's state and starts a stack from its last kept one (``engine.snapshots``).
    """
    executor = LocalExecutor(workers) if executor is None else executor
    task = TrainingTask(space, train, val, test, protocol, augment, accel, snapshots=snapshots)
    yield from executor.run(task, plan_stacks(jobs, space, max_models, train.shape), on_epoch)
