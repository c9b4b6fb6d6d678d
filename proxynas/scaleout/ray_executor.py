"""``--executor ray``: long-lived Ray actors train the planned stacks; this process, the driver, gathers
the outcomes.

- **Actors**: one :class:`~proxynas.scaleout.worker.StackWorker` per slot of the cluster (a GPU, a
  fraction of one, or ``--cpus-per-task`` CPUs), at most as many as stacks are left, started when the
  run starts and killed when it ends (``scaleout.pool``). Each process starts once and trains stack
  after stack; a stack goes to an actor that has started and is idle (never to one still waiting for
  resources another job holds). Counted again as stacks finish, a cluster that grows gets more actors.
- **Data**: the task (space, training, validation and test sets, protocol) goes to Ray's object store
  once per run, from the CPU; each actor fetches it and places it on its device once, when it starts.
- **Resources**: an actor holds ``--cpus-per-task`` CPUs (its torch threads) and ``--gpus-per-task``
  GPUs for its life. On a fraction of a GPU it caps its allocator at that fraction
  (``torch.cuda.set_per_process_memory_fraction``), so actors sharing a GPU cannot starve each other.
  The workers' device, not the driver's, sets the defaults, such as the models per stack
  (:meth:`RayExecutor.target_device`).
- **Out of memory**: a stack that runs out is halved inside its actor, as on one machine; a model that
  runs out even alone is not trained (its stack-mates are), the actor stays, and the run goes on; such
  models are named in the error raised at the end (below), after every other outcome is stored.
- **Faults**: when an actor dies (killed, out of host memory, its node lost) a new one replaces it and
  the stack it was training is sent again, at most ``max_retries`` times. A stack still lost after that
  is reported by a :class:`ProxynasError` naming its candidates, raised after the outcomes of every
  other stack have been yielded (and so stored). An exception raised by the training itself is not
  retried: it is raised at once, as the local executor does, and so is an actor that fails to start
  (its replacements would too). A model whose loss becomes NaN is an outcome with status ``failed``,
  not a fault.
- **Stopping** (``engine.stopping``): asked to finish (the first SIGINT/SIGTERM), the driver sends no
  new stack and yields the running ones' outcomes as they end (a stack whose actor dies meanwhile is
  still retried); asked to stop now, it kills the actors (their stacks are discarded) and returns at once.
- **Per-epoch hooks** cannot cross processes: ``on_epoch`` is not called. Progress comes from finished
  stacks, and ``on_running`` is told how many stacks are training whenever that may have changed.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterator, Sequence

import ray
import torch
from ray.exceptions import RayError, RayTaskError

from proxynas.engine.executors import Executor, ExecutorOptions
from proxynas.engine.run import EpochCallback, Job, Outcome, TrainingTask
from proxynas.errors import ProxynasError
from proxynas.scaleout.cluster import TaskShape, connect, task_shape
from proxynas.scaleout.pool import Actor, ActorPool
from proxynas.scaleout.worker import StackResult

log = logging.getLogger(__name__)

NAMED = 30  # candidates named in the error of a lost run, at most
POLL_SECONDS = 0.5  # how often the driver looks at a stop request while it waits for stacks


class RayExecutor(Executor):
    """Stacks trained by Ray actors on the cluster at ``options.address`` ("auto": the running cluster; None:
    ``$RAY_ADDRESS``, else a local Ray); the driver yields outcomes as stacks finish (``ray.wait``)."""

    def __init__(self, options: ExecutorOptions) -> None:
        self.options = options
        self.device = options.device
        self._shape: TaskShape | None = None
        self.pool: ActorPool | None = None  # the last run's actors (closed when it ends)
        self.trained_by: dict[int, int] = {}  # actor process id: stacks it trained, over this executor's runs

    def shape(self) -> TaskShape:
        """The shape of the actors on this cluster (joins the cluster on the first call)."""
        if self._shape is None:
            connect(self.options.address)
            self._shape = task_shape(self.options, ray.nodes())
            log.info("Ray actors: %s, %g CPU(s) and %g GPU(s) each", self._shape.device, self._shape.num_cpus,
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
        pool = ActorPool(shape, ray.put(task.to(torch.device("cpu"))))
        self.pool = pool
        waiting: deque[tuple[list[Job], int]] = deque((stack, 0) for stack in stacks)  # (stack, tries so far)
        retry: deque[tuple[list[Job], int]] = deque()  # stacks whose actor died: sent again even when finishing
        pending: dict[ray.ObjectRef, tuple[list[Job], int, Actor]] = {}
        lost: list[tuple[list[Job], str]] = []
        # actors that may die while starting (killed, their node lost) before the run gives up
        start_deaths, start_budget = 0, (self.options.max_retries + 1) * max(1, shape.slots(ray.nodes()))
        stop = self.stop
        try:
            while waiting or retry or pending:
                if stop is not None and stop.now.is_set():
                    return  # the finally kills the actors: the running stacks are discarded
                if stop is not None and stop.asked:
                    waiting.clear()  # finish what runs, send nothing new
                if waiting or retry:
                    pool.grow(min(max(1, shape.slots(ray.nodes())), len(pending) + len(waiting) + len(retry)))
                    while pool.idle and (retry or waiting):
                        stack, tries = retry.popleft() if retry else waiting.popleft()
                        actor = pool.take()
                        pending[actor.train.remote(stack)] = (stack, tries, actor)
                        if stop is not None and not tries:
                            stop.started(id(stack), [job.candidate.id for job in stack])
                if not pending and not (pool.starting and (waiting or retry)):
                    break
                self.report_running(len(pending), shape)
                ready, _ = ray.wait([*pending, *pool.starting], num_returns=1, timeout=POLL_SECONDS)
                if not ready:
                    continue  # look at the stop request again
                if ready[0] in pool.starting:
                    try:
                        pool.ready(ready[0])  # idle now: the next round sends it a stack
                    except RayError as err:
                        if getattr(err, "actor_init_failed", False):  # it could not start: nor would the next
                            raise start_error(err) from None
                        start_deaths += 1
                        if start_deaths > start_budget:
                            raise start_error(err) from None
                        log.warning("an actor died starting (%s); starting another", first_line(err))
                    continue
                stack, tries, actor = pending.pop(ready[0])
                try:
                    result: StackResult = ray.get(ready[0])
                except RayTaskError as err:  # the training raised: not a fault of the cluster
                    if isinstance(err.cause, ProxynasError):
                        raise err.cause from None
                    raise
                except RayError as err:  # the actor (or its node) died
                    pool.discard(actor)
                    if getattr(err, "actor_init_failed", False):  # it could not even start: so would the next
                        raise start_error(err) from None
                    if tries < self.options.max_retries:
                        log.warning("an actor died training a stack of %d (%s); sending it to a new one",
                                    len(stack), first_line(err))
                        retry.append((stack, tries + 1))
                        continue
                    log.warning("a stack of %d was lost: %s", len(stack), first_line(err))
                    lost.append((stack, f"its actor died {tries + 1} time(s) ({first_line(err)})"))
                else:
                    pool.give_back(actor)
                    self.trained_by[result.pid] = self.trained_by.get(result.pid, 0) + 1
                    if result.unfit:
                        lost.append((result.unfit, f"out of memory even alone ({result.out_of_memory})"))
                    yield from result.outcomes
                if stop is not None:
                    stop.ended(id(stack))
            self.report_running(0, shape)
        finally:  # a stop now, the end, or the consumer stopped early (an error, Ctrl-C)
            pool.close()
        if lost:
            raise lost_error(lost)

    def report_running(self, in_flight: int, shape: TaskShape) -> None:
        """Tell ``on_running`` how many stacks train now: those sent, at most as many as the cluster's
        nodes hold at once (an actor starts as soon as its resources are free)."""
        if self.on_running is not None:
            self.on_running(min(in_flight, shape.slots(ray.nodes())) if in_flight else 0)


def first_line(err: BaseException) -> str:
    return f"{type(err).__name__}: {(str(err).strip().splitlines() or [''])[0][:200]}"


def start_error(err: BaseException) -> ProxynasError:
    """A one-line error for an actor that failed to start (placing the data, importing the space)."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    cause = next((line for line in reversed(lines) if "Error" in line.split(":")[0]), lines[-1] if lines else "")
    return ProxynasError(f"a Ray actor could not start: {cause[:300]}",
                         "every result finished so far is in the store; fix what it names (the workers need "
                         "proxynas, torch and the space's code, and room for the data on their device) and rerun")


def lost_error(lost: list[tuple[list[Job], str]]) -> ProxynasError:
    """One line for the stacks (or models) a run could not train, each with why."""
    ids = [job.candidate.id for stack, _ in lost for job in stack]
    named = ", ".join(ids[:NAMED]) + (f" and {len(ids) - NAMED} more" if len(ids) > NAMED else "")
    why = "; ".join(dict.fromkeys(reason for _, reason in lost))  # each reason once, in order
    return ProxynasError(
        f"{len(ids)} candidate(s) in {len(lost)} stack(s) were not trained: {why[:400]}; lost: {named}",
        "every other result is in the store; rerun the same command to train only what is missing "
        "(killed or out of memory: lower --stack, or raise --cpus-per-task / --gpus-per-task)")
