"""Joining a Ray cluster, and fitting a stack's task to it: the device, the resources, the slots."""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import ray

from proxynas.engine.executors import ExecutorOptions
from proxynas.errors import ProxynasError

log = logging.getLogger(__name__)

Node = Mapping[str, object]  # one entry of ``ray.nodes()``


def resources(node: Node) -> Mapping[str, float]:
    """A node's total resources (``{}`` for a node that is no longer alive)."""
    found = node.get("Resources") if node.get("Alive") else None
    return found if isinstance(found, Mapping) else {}


def connect(address: str | None) -> None:
    """Join the cluster at ``address`` ("auto": the one this machine belongs to). With None, join
    ``$RAY_ADDRESS`` when it is set (``ray job submit`` sets it for the driver), else start a local Ray
    on this machine. A process keeps its connection (Ray's exit hook closes it), so the next plan of
    the same command reuses the cluster instead of starting another."""
    if ray.is_initialized():
        log.debug("reusing this process's Ray connection")
        return
    address = address or os.environ.get("RAY_ADDRESS") or None
    try:
        if address is None:
            ray.init(address="local", include_dashboard=False)
        else:
            ray.init(address=address)
    except (ConnectionError, ValueError, RuntimeError) as err:
        where = "a local Ray" if address is None else f"the Ray cluster at '{address}'"
        raise ProxynasError(f"cannot start or join {where}: {' '.join(str(err).split())[:300]}",
                            "start the cluster with `ray start --head` and pass --ray-address auto, "
                            "or leave out --ray-address to start a local Ray") from None


@dataclass(frozen=True)
class TaskShape:
    """What one stack's task trains on and holds while it runs."""

    device: str  # "cuda" or "cpu": every worker trains on its own device of this kind
    num_gpus: float
    num_cpus: float

    @property
    def threads(self) -> int:
        """torch intra-op threads in the worker: the CPUs the task holds (at least one)."""
        return max(1, int(self.num_cpus))

    def fits(self, node: Node) -> bool:
        held = resources(node)
        return held.get("CPU", 0) >= self.num_cpus and held.get("GPU", 0) >= self.num_gpus

    def slots(self, nodes: Sequence[Node]) -> int:
        """How many of these tasks the alive nodes run at once."""
        total = 0
        for node in nodes:
            if not self.fits(node):
                continue
            held = resources(node)
            per_node = [math.floor(held.get("CPU", 0) / self.num_cpus + 1e-9)]
            if self.num_gpus > 0:
                per_node.append(math.floor(held.get("GPU", 0) / self.num_gpus + 1e-9))
            total += min(per_node)
        return total


def task_shape(options: ExecutorOptions, nodes: Sequence[Node]) -> TaskShape:
    """The device and resources of a stack's task, checked against the cluster's nodes.

    ``--device cuda``: CUDA, ``--gpus-per-task`` GPUs (default 1); ``--device cpu``: the CPU, no GPU;
    ``auto`` (or none): CUDA when ``--gpus-per-task`` is above 0 or, when it is not given, when the
    cluster has a GPU; the CPU otherwise. The driver's own device does not matter: it trains nothing.
    """
    device, gpus = options.device or "auto", options.gpus_per_task
    has_gpu = any(resources(n).get("GPU", 0) > 0 for n in nodes)
    if device == "cpu":
        if gpus:
            raise ProxynasError(f"--device cpu with --gpus-per-task {gpus}", "leave out --gpus-per-task, "
                                "or pass --device cuda")
        shape = TaskShape("cpu", 0.0, options.cpus_per_task)
    elif device.startswith("cuda"):
        if gpus == 0:
            raise ProxynasError("--device cuda with --gpus-per-task 0",
                                "pass a fraction to share a GPU, e.g. --gpus-per-task 0.25")
        shape = TaskShape("cuda", 1.0 if gpus is None else gpus, options.cpus_per_task)
    elif device == "auto":
        use_gpu = has_gpu if gpus is None else gpus > 0
        shape = TaskShape("cuda" if use_gpu else "cpu", (1.0 if gpus is None else gpus) if use_gpu else 0.0,
                          options.cpus_per_task)
    else:
        raise ProxynasError(f"unknown device '{device}'", "use cpu, cuda or auto")
    if shape.num_gpus > 1 and not float(shape.num_gpus).is_integer():
        raise ProxynasError(f"--gpus-per-task {shape.num_gpus}: above 1 it must be a whole number",
                            "pass e.g. --gpus-per-task 0.5, 1 or 2")
    if not any(shape.fits(n) for n in nodes):
        raise ProxynasError(f"no node of the Ray cluster has {shape.num_cpus:g} CPU(s) and {shape.num_gpus:g} "
                            f"GPU(s) for one task", "lower --cpus-per-task / --gpus-per-task, or add a "
                            "machine with `ray start --address HEAD:6379`")
    return shape
