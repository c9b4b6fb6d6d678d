"""``make gpu-check``: without a GPU it says so and fails; its checks run on the CPU (``--cpu-dry-run``), and
each can fail: fp32 comparisons run with TF32 off, the out-of-memory split is compared with one model per
stack, a failed candidate is reported, not crashed on."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "gpu_check.py"


@pytest.fixture(scope="module")
def gpu_check():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        yield importlib.import_module("gpu_check")
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))


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
    for check in ("streams", "invariant", "oom", "compile", "cuda_vs_cpu", "search", "memory_model", "nb201_stacked"):
        assert f"{check}" in proc.stdout
    assert "all checks passed" in proc.stdout


@pytest.fixture
def tf32_on():
    """TF32 allowed, as cuDNN allows it by default; the flags restored afterwards."""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def test_fp32_runs_build_and_train_with_tf32_off_and_bf16_runs_keep_the_setting(gpu_check, tf32_on):
    checker = gpu_check.Checker(torch.device("cpu"), small=True)
    protocol = gpu_check.Protocol(epochs=1, batch_size=128)
    ids = gpu_check.SAME_SHAPE[:2]
    fp32 = gpu_check.Recording(gpu_check.PLAIN)
    checker.train_jobs(ids, fp32, protocol, max_models=1, workers=2, accel=gpu_check.FP32)
    assert fp32.tf32 == [False, False]  # both stacks, in worker threads
    assert torch.backends.cudnn.allow_tf32 and torch.backends.cuda.matmul.allow_tf32  # restored
    bf16 = gpu_check.Recording(gpu_check.PLAIN)
    checker.train_jobs(ids, bf16, protocol, max_models=2, accel=gpu_check.Accel(bf16=True))
    assert bf16.tf32 == [True]


def test_max_gap_reports_a_failed_or_missing_candidate_instead_of_crashing(gpu_check):
    a = {"x#0": (0.5, 0.9), "y#1": (0.7, 0.8)}
    assert gpu_check.max_gap(a, {"x#0": (0.25, 0.9), "y#1": (0.75, 0.5)}, 0) == pytest.approx(0.25)
    assert gpu_check.max_gap(a, {"x#0": (0.25, 0.9), "y#1": (0.75, 0.5)}, 1) == pytest.approx(0.3)
    diverged = {"x#0": (0.5, 0.9), "y#1": (None, None)}
    assert gpu_check.max_gap(a, diverged, 0) is None and gpu_check.max_gap(a, {"x#0": (0.5, 0.9)}, 1) is None
    assert gpu_check.failed(a, diverged) == ["y#1"]
    assert not gpu_check.within(None, 1e-3) and gpu_check.within(0.0, 1e-3)
    verdict = gpu_check.split_verdict([2, 1, 1], 2, diverged, a, [1, 1])
    assert not verdict["ok"] and verdict["failed"] == ["y#1"] and verdict["loss_gap"] is None


def test_the_out_of_memory_verdict_fails_unless_the_split_equals_one_model_per_stack(gpu_check):
    alone = {"x#0": (0.5, 0.9), "y#1": (0.7, 0.8)}
    assert gpu_check.split_verdict([2, 1, 1], 2, dict(alone), alone, [1, 1])["ok"]
    assert not gpu_check.split_verdict([2, 1, 1], 2, {**alone, "y#1": (0.71, 0.8)}, alone, [1, 1])["ok"]
    assert not gpu_check.split_verdict([2], 2, dict(alone), alone, [1, 1])["ok"]  # nothing was split
    assert not gpu_check.split_verdict([2, 1, 1], 2, dict(alone), alone, [2])["ok"]  # compared with a stack


@pytest.mark.slow
def test_the_cpu_twin_of_the_out_of_memory_check_splits_and_compares_with_single_models(gpu_check, tf32_on):
    result = gpu_check.Checker(torch.device("cpu"), small=True).oom()
    assert result["ok"], result
    assert result["stack_sizes_tried"][0] == 4 and result["compared_with_stack_sizes"] == [1]
    assert result["injected"] and result["tf32"] is False and result["failed"] == []
