"""The actors of one run: started as the cluster's slots allow, handed out once started and idle, dead
ones replaced, all killed when the run ends."""

from __future__ import annotations

import logging
from typing import Any

import ray
from ray.actor import ActorHandle

from proxynas.scaleout.cluster import TaskShape
from proxynas.scaleout.worker import StackWorker, memory_fraction

log = logging.getLogger(__name__)

Actor = ActorHandle  # of a StackWorker


def actor_options(shape: TaskShape) -> dict[str, Any]:
    """Ray's options for an actor of ``shape``: the resources it holds for its whole life; Ray does not
    restart it (a dead actor is replaced by the pool, its stack retried by the executor), and it runs
    one stack at a time."""
    return {"num_cpus": shape.num_cpus, "num_gpus": shape.num_gpus, "max_restarts": 0, "max_task_retries": 0,
            "max_concurrency": 1}


class ActorPool:
    """The :class:`~proxynas.scaleout.worker.StackWorker` actors training one run's stacks."""

    def __init__(self, shape: TaskShape, payload: ray.ObjectRef) -> None:
        self.shape = shape
        self.payload: ray.ObjectRef | None = payload  # the run's data in the object store, until the pool closes
        self.remote = ray.remote(**actor_options(shape))(StackWorker)
        self.fraction = memory_fraction(shape.num_gpus)
        self.idle: list[Actor] = []  # started, training nothing
        self.alive: list[Actor] = []  # started or starting
        # an actor starting (Ray places it once its resources are free, which another job may hold): the
        # ref of its first call, which answers once it has started; no stack waits on such an actor
        self.starting: dict[ray.ObjectRef, Actor] = {}
        self.started = 0  # actors started over the run, replacements included

    def grow(self, size: int) -> None:
        """Start actors until ``size`` are alive or starting."""
        while len(self.alive) < size:
            actor = self.remote.remote(self.payload, self.shape.device, self.shape.threads, self.fraction)
            self.alive.append(actor)
            self.starting[actor.pid.remote()] = actor
            self.started += 1

    def ready(self, ref: ray.ObjectRef) -> None:
        """The actor of ``ref`` (a key of :attr:`starting`) has answered: idle, or, when it failed to
        start, forgotten; raises its error (``RayError``; ``actor_init_failed`` when its constructor raised)."""
        actor = self.starting.pop(ref)
        try:
            ray.get(ref)
        except Exception:
            self.discard(actor)
            raise
        self.idle.append(actor)

    def take(self) -> Actor:
        return self.idle.pop()

    def give_back(self, actor: Actor) -> None:
        self.idle.append(actor)

    def discard(self, actor: Actor) -> None:
        """Forget a dead actor (its replacement is started by the next :meth:`grow`)."""
        self.alive = [a for a in self.alive if a is not actor]
        self.idle = [a for a in self.idle if a is not actor]
        ray.kill(actor, no_restart=True)  # dead already, or failing: make sure it holds nothing

    def close(self) -> None:
        """Kill every actor (their stacks in flight, if any, are discarded) and let go of the run's data."""
        for actor in self.alive:
            ray.kill(actor, no_restart=True)
        self.alive, self.idle, self.starting, self.payload = [], [], {}, None
