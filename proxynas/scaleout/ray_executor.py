"""``--executor ray``: every planned stack is a Ray task; this process, the driver, gathers the outcomes.

- **Data**: the task (space, training, validation and test sets, protocol) goes to Ray's object store
  once per run, from the CPU; a worker process fetches it and places it on its device once
  (:mod:`proxynas.scaleout.worker`).
- **Resources**: a task holds ``--cpus-per-task`` CPUs (its torch threads) and ``--gpus-per-task``
  GPUs (fractions share a GPU; default 1 when the workers train on CUDA). The workers' device, not the
  driver's, sets the defaults, such as the models per stack (:meth:`RayExecutor.target_device`).
- **Faults**: a task whose worker process dies (killed, out of memory, its node lost) is run again, at
  most ``max_retries`` times. A stack still lost after that is reported by a :class:`ProxynasError`
  naming its candidates, raised after the outcomes of every other stack have been yielded (and so
  stored). An exception raised by the training itself is not retried: it is raised at once, as the
  local executor does. A model whose loss becomes NaN is an outcome with status ``failed``, not a fault.
- **Submission and stopping**: at most as many tasks are submitted as the cluster runs at once (its
  slots, counted again as tasks finish, so a cluster that grows gets more). Asked to finish
  (``engine.stopping``: the first SIGINT/SIGTERM), the driver submits nothing more and yields the
  running tasks' outcomes as they end; asked to stop now, it cancels the running tasks (their stacks
  are discarded) and returns at once.
- **Per-epoch hooks** cannot cross processes: ``on_epoch`` is not called. Progress comes from finished
  stacks, and ``on_running`` is told how many tasks are running whenever that may have changed.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence

import ray
import torch
from ray.exceptions import RayError, RayTaskError

from proxynas.engine.executors import Executor, ExecutorOptions
from proxynas.engine.run import EpochCallback, Job, Outcome, TrainingTask
from proxynas.errors import ProxynasError
from proxynas.scaleout.cluster import TaskShape, connect, task_shape
from proxynas.scaleout.worker import train_stack

log = logging.getLogger(__name__)

NAMED = 30  # candidates named in the error of a lost run, at most
POLL_SECONDS = 0.5  # how often the driver looks at a stop request while it waits for tasks


class RayExecutor(Executor):
    """Stacks as Ray tasks on the cluster at ``options.address`` ("auto": the running cluster; None:
    ``$RAY_ADDRESS``, else a local Ray); the driver yields outcomes as tasks finish (``ray.wait``)."""

    def __init__(self, options: ExecutorOptions) -> None:
        self.options = options
        self.device = options.device
        self._shape: TaskShape | None = None

    def shape(self) -> TaskShape:
        """The stacks' task shape on this cluster (joins the cluster on the first call)."""
        if self._shape is None:
            connect(self.options.address)
            self._shape = task_shape(self.options, ray.nodes())
            log.info("Ray tasks: %s, %g CPU(s) and %g GPU(s) each", self._shape.device, self._shape.num_cpus,
                     self._shape.num_gpus)
        return self._shape

    def target_device(self, data_device: torch.device) -> torch.device:
        """The workers' kind of device (the driver may have no GPU at all)."""
        return torch.device(self.shape().device)

    def run(self, task: TrainingTask, stacks: Sequence[list[Job]],
            on_epoch: EpochCallback | None = None) -> Iterator[Outcome]:
        if on_epoch is not None:
            log.warning("the ray executor does not call per-epoch hooks: they cannot cross processes")
        if not stacks:
            return
        shape = self.shape()
        remote = ray.remote(num_cpus=shape.num_cpus, num_gpus=shape.num_gpus, max_retries=self.options.max_retries,
                            retry_exceptions=False, max_calls=1 if shape.num_gpus else 0)(train_stack)
        payload = ray.put(task.to(torch.device("cpu")))
        waiting = list(reversed(stacks))  # not submitted yet, the next one last
        pending: dict[ray.ObjectRef, list[Job]] = {}
        lost: list[tuple[list[Job], RayError]] = []
        stop = self.stop
        try:
            while waiting or pending:
                if stop is not None and stop.now.is_set():
                    return  # the finally cancels the running tasks: their stacks are discarded
                if stop is not None and stop.asked:
                    waiting.clear()  # finish what runs, submit nothing more
                elif waiting and len(pending) < (slots := max(1, shape.slots(ray.nodes()))):
                    while waiting and len(pending) < slots:
                        stack = waiting.pop()
                        ref = remote.remote([payload], shape.device, shape.threads, stack)
                        pending[ref] = stack
                        if stop is not None:
                            stop.started(id(stack), [job.candidate.id for job in stack])
                if not pending:
                    break
                self.report_running(len(pending), shape)
                ready, _ = ray.wait(list(pending), num_returns=1, timeout=POLL_SECONDS)
                if not ready:
                    continue  # look at the stop request again
                ref = ready[0]
                stack = pending.pop(ref)
                if stop is not None:
                    stop.ended(id(stack))
                try:
                    outcomes = ray.get(ref)
                except RayTaskError as err:  # the training raised: not a fault of the cluster
                    if isinstance(err.cause, ProxynasError):
                        raise err.cause from None
                    raise
                except RayError as err:  # the worker (or its node) died, and its retries with it
                    log.warning("a stack of %d was lost: %s", len(stack), first_line(err))
                    lost.append((stack, err))
                    continue
                yield from outcomes
            self.report_running(0, shape)
        finally:
            for ref in pending:  # a stop now, or the consumer stopped early (an error, Ctrl-C): stop what is left
                ray.cancel(ref)
        if lost:
            raise lost_error(lost, self.options.max_retries)

    def report_running(self, in_flight: int, shape: TaskShape) -> None:
        """Tell ``on_running`` how many tasks run now: those in flight, at most as many as the cluster's
        nodes hold at once (Ray starts a task as soon as its resources are free)."""
        if self.on_running is not None:
            self.on_running(min(in_flight, shape.slots(ray.nodes())) if in_flight else 0)


def first_line(err: BaseException) -> str:
    return f"{type(err).__name__}: {(str(err).strip().splitlines() or [''])[0][:200]}"


def lost_error(lost: list[tuple[list[Job], RayError]], retries: int) -> ProxynasError:
    ids = [job.candidate.id for stack, _ in lost for job in stack]
    named = ", ".join(ids[:NAMED]) + (f" and {len(ids) - NAMED} more" if len(ids) > NAMED else "")
    return ProxynasError(
        f"{len(lost)} stack(s) of {len(ids)} candidate(s) were lost: their Ray task failed {retries + 1} "
        f"time(s) ({first_line(lost[0][1])}); lost: {named}",
        "every other result is in the store; rerun the same command to train only what is missing "
        "(a worker killed for memory: lower --stack or raise --cpus-per-task / --gpus-per-task)")
