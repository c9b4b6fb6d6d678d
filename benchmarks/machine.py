"""What a benchmark knows about its machine: the CPU's model and vector units, the fp32 matmul rate
measured here and now, and a GPU's dense peaks looked up by its name.

The measured matmul rate is the machine's practical fp32 limit for the benchmark's own threads: a
shared CPU (or a throttled one) is measured as it is during the run, so a ratio of a training rate to
it compares like with like. GPU peaks are NVIDIA's published dense figures (no 2:4 sparsity), never
measured here.
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import time
from dataclasses import dataclass

import torch

# Flags of lscpu/cpuinfo that decide which oneDNN/MKL kernels run.
VECTOR_FLAGS = ("avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16",
                "amx_tile", "amx_bf16")


@dataclass(frozen=True)
class GpuPeak:
    """Dense peak TFLOP/s (NVIDIA datasheets; the sparse figures are twice these)."""

    name: str
    fp32: float  # CUDA cores, no tensor cores
    tf32: float  # tensor cores, what cuDNN uses for fp32 convolutions by default
    bf16: float


# Ordered: the first whose key is in the device's name wins (NVL and PCIe before the bare name).
GPU_PEAKS: tuple[tuple[str, GpuPeak], ...] = (
    ("H200 NVL", GpuPeak("H200 NVL", fp32=60.0, tf32=417.5, bf16=835.5)),
    ("H200", GpuPeak("H200 SXM", fp32=67.0, tf32=494.5, bf16=989.5)),
    ("H100 NVL", GpuPeak("H100 NVL", fp32=60.0, tf32=417.5, bf16=835.5)),
    ("H100 PCIe", GpuPeak("H100 PCIe", fp32=51.0, tf32=378.0, bf16=756.5)),
    ("H100", GpuPeak("H100 SXM", fp32=67.0, tf32=494.5, bf16=989.5)),
)


def gpu_peak(device_name: str) -> GpuPeak | None:
    """The dense peaks of a GPU from its name (``torch.cuda.get_device_name``), None if not listed."""
    for key, peak in GPU_PEAKS:
        if key.lower() in device_name.lower():
            return peak
    return None


def cpu_description() -> dict[str, object]:
    """Model name, core count and the vector-unit flags of this CPU (from /proc/cpuinfo)."""
    model, flags = "unknown", set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "model name" and model == "unknown":
                    model = value.strip()
                elif key.strip() == "flags" and not flags:
                    flags = set(value.split())
    except OSError:
        pass
    return {"model": model, "cores": os.cpu_count(), "vector_flags": [f for f in VECTOR_FLAGS if f in flags],
            "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "onednn": onednn_version()}


def onednn_version() -> str | None:
    match = re.search(r"MKL-DNN v([\d.]+)", torch.__config__.show())
    return match.group(1) if match else None


def load_average() -> tuple[float, float, float] | None:
    try:
        return os.getloadavg()
    except OSError:
        return None


def git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                             check=True, cwd=os.path.dirname(os.path.abspath(__file__)))
    except (OSError, subprocess.CalledProcessError):
        return None
    return out.stdout.strip()


def matmul_rate(n: int = 1024, repeat: int = 5, device: torch.device | None = None,
                dtype: torch.dtype = torch.float32) -> dict[str, float]:
    """FLOP/s of an (n x n) @ (n x n) product on the current threads: best and median of ``repeat``
    timings (each long enough to time, after a warm-up)."""
    device = device or torch.device("cpu")
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    flops = 2.0 * n ** 3
    inner = max(1, int(2e10 // flops)) if device.type == "cuda" else max(1, int(4e9 // flops))
    for _ in range(2):
        a @ b
    rates = []
    for _ in range(repeat):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        for _ in range(inner):
            a @ b
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        rates.append(inner * flops / (time.perf_counter() - start))
    return {"n": n, "best_flop_per_s": max(rates), "median_flop_per_s": statistics.median(rates),
            "threads": torch.get_num_threads()}


def matmul_per_cpu_second(n: int = 1024, repeat: int = 5) -> float:
    """fp32 matmul FLOPs per CPU-second of ONE thread (the best of ``repeat``): one core's limit, measured
    in CPU time, so that another process's load on a shared machine hardly moves it."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        a, b = torch.randn(n, n), torch.randn(n, n)
        a @ b
        best = 0.0
        for _ in range(repeat):
            start = time.thread_time()
            for _ in range(4):
                a @ b
            best = max(best, 4 * 2.0 * n ** 3 / (time.thread_time() - start))
        return best
    finally:
        torch.set_num_threads(threads)
