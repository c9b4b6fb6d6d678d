"""How many models and stacks the engine trains at once by default, per device (``--stack`` overrides).

CUDA: stacks as large as fit. A dc_convnet stack never holds more candidates than one shape has (15,
times the seeds); nb201 stacks any cells, up to this count. The training pipeline then splits each
planned stack into the largest that fit the memory budget (``engine.memory``: predicted before the
stack is built, 0.8 of the free memory by default, shared by the workers), and the trainer halves a
stack that still runs out of memory (the fallback); two stacks side by side, each on its own stream.

CPU: one model per stack and one stack per core, each on one intra-op thread. Measured on a shared
2-core CPU (``benchmarks/bench_demo.py``, figures in ``benchmarks/results/README.md``): grouped
convolutions are no faster than separate ones there (the work is compute- and memory-bound, not
launch-bound), while independent single-threaded workers beat one model split over two threads.
"""

from __future__ import annotations

import torch

CUDA_STACK = 64
CUDA_WORKERS = 2
CPU_STACK = 1
CPU_MAX_WORKERS = 4


def default_stack_size(device: torch.device) -> int:
    return CUDA_STACK if device.type == "cuda" else CPU_STACK


def default_workers(device: torch.device) -> int:
    if device.type == "cuda":
        return CUDA_WORKERS
    return max(1, min(CPU_MAX_WORKERS, torch.get_num_threads()))
