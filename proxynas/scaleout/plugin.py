"""The Ray executor as the executor registry sees it: its options, their command-line flags, and a maker
that imports Ray only when a run asks for it (``--executor ray``).

Registered from here, found through this package's ``proxynas.executors`` entry point (pyproject.toml)
as a third-party executor is; the engine does not import this package.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from proxynas.engine.executors import Executor, ExecutorOptions, flag, register_executor
from proxynas.errors import ProxynasError


@dataclass(frozen=True)
class RayOptions(ExecutorOptions):
    """``ExecutorOptions`` and the Ray cluster's: where it is and what each actor (one stack at a time) holds."""

    name: str = "ray"
    address: str | None = field(default=None, metadata=flag(
        "--ray-address", "the cluster to join ('auto': the running one; default: $RAY_ADDRESS, else start a "
        "local Ray)", metavar="ADDR"))
    gpus_per_task: float | None = field(default=None, metadata=flag(
        "--gpus-per-task",
        "GPUs per actor, which trains one stack at a time; fractions share a GPU (default: 1 with --device cuda)",
        type=float, metavar="F"))
    cpus_per_task: float = field(default=1.0, metadata=flag(
        "--cpus-per-task", "CPUs per actor (default: 1)", type=float, metavar="F"))
    max_retries: int = field(default=2, metadata=flag(
        "--max-retries", "retries of a stack whose actor died, from its checkpoint when it has one (default: 2)",
        type=int, metavar="N"))

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.gpus_per_task is not None and self.gpus_per_task < 0:
            raise ProxynasError(f"--gpus-per-task must not be negative, got {self.gpus_per_task}",
                                "pass e.g. --gpus-per-task 0.25")
        if self.max_retries < 0:
            raise ProxynasError(f"--max-retries must not be negative, got {self.max_retries}",
                                "pass --max-retries 0 (no retry) or more")
        if self.cpus_per_task <= 0:
            raise ProxynasError(f"--cpus-per-task must be positive, got {self.cpus_per_task}",
                                "pass e.g. --cpus-per-task 1")

    def describe(self) -> str:
        return f"on Ray ({self.address or 'a local cluster'})"


@register_executor("ray", options=RayOptions)
def ray_executor(options: RayOptions) -> Executor:
    """Stacks sent to long-lived Ray actors, one per GPU, fraction or CPU slot (``pip install proxynas[ray]``)."""
    try:
        from proxynas.scaleout.ray_executor import RayExecutor
    except ImportError as err:
        raise ProxynasError(f"--executor ray needs Ray, which is not installed ({err.name} is missing)",
                            "pip install 'proxynas[ray]'") from None
    return RayExecutor(options)
