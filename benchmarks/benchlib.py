"""What the benchmarks share: the one-at-a-time baseline space, timing, and the result record."""

from __future__ import annotations

import json
import platform
import shlex
import sys
import time
from collections.abc import Callable, Hashable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
from torch import nn

from proxynas.engine import describe
from search_spaces.base import SearchSpace

RESULTS = Path(__file__).resolve().parent / "results"


class OneAtATime:
    """A search space seen through the engine's defaults: each (candidate, seed) in a ``ListStack``
    of its own (``stack_key`` = the candidate id, ``max_models=1``): one-at-a-time training."""

    def __init__(self, space: SearchSpace) -> None:
        self.space, self.name = space, space.name

    def stack_key(self, candidate: Any) -> Hashable:
        return candidate.id

    def build_stack(self, candidates: Sequence[Any], seeds: Sequence[int], input_shape: Sequence[int],
                    num_classes: int) -> nn.Module:
        return SearchSpace.build_stack(self.space, candidates, seeds, input_shape, num_classes)


def timed(run: Callable[[], Any], device: torch.device) -> tuple[float, Any]:
    """(wall seconds, result) of ``run()``, with the device drained before and after."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    result = run()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start, result


def environment(device: torch.device) -> dict[str, Any]:
    return {
        "device": describe(device),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "cpu": platform.processor() or platform.machine(),
        "threads": torch.get_num_threads(),
        "command": "python " + " ".join(shlex.quote(a) for a in sys.argv),
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def save(name: str, record: dict[str, Any]) -> Path:
    """Write ``record`` as ``benchmarks/results/{name}.json``."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(record, indent=2) + "\n")
    return path


def table(rows: Sequence[tuple[str, str]]) -> str:
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)
