"""What the benchmarks share: the one-at-a-time baseline space, timing, and the result record."""

from __future__ import annotations

import json
import platform
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch

from proxynas.engine import describe
from proxynas.spaces import PlainStacks, SearchSpace

RESULTS = Path(__file__).resolve().parent / "results"


def OneAtATime(space: SearchSpace) -> PlainStacks:
    """``space`` trained one (candidate, seed) per ``ListStack``: one-at-a-time training."""
    return PlainStacks(space, one_at_a_time=True)


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
