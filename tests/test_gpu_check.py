"""``make gpu-check``: without a GPU it says so and fails; its checks run on the CPU (``--cpu-dry-run``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "gpu_check.py"


def run(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, env=env,
                          timeout=600)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU: `make gpu-check` is the test")
def test_without_a_gpu_it_says_so_exits_non_zero_and_writes_nothing():
    before = set((ROOT / "benchmarks" / "results").glob("gpu_check_*.json"))
    proc = run()
    assert proc.returncode == 1
    assert "no CUDA GPU" in proc.stderr and "estimate" not in proc.stdout + proc.stderr
    assert set((ROOT / "benchmarks" / "results").glob("gpu_check_*.json")) == before


@pytest.mark.slow
def test_every_check_runs_and_passes_on_the_cpu():
    before = set((ROOT / "benchmarks" / "results").iterdir())
    proc = run("--cpu-dry-run")
    assert set((ROOT / "benchmarks" / "results").iterdir()) == before
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for check in ("streams", "invariant", "oom", "compile", "cuda_vs_cpu", "search"):
        assert f"{check}" in proc.stdout
    assert "all checks passed" in proc.stdout
