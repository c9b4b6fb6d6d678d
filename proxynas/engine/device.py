"""Choosing the device: CUDA when present, CPU otherwise, one code path."""

from __future__ import annotations

import torch

from proxynas.errors import ProxynasError


def resolve_device(name: str | None = None) -> torch.device:
    """``None``/"auto" picks CUDA when available; "cuda" without a GPU is an error, not a fallback."""
    if name in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ProxynasError("--device cuda was asked for but this torch sees no CUDA GPU",
                            "use --device cpu, or install a CUDA build of torch")
    if name != "cpu" and not name.startswith("cuda"):
        raise ProxynasError(f"unknown device '{name}'", "use cpu, cuda or auto")
    return torch.device(name)


def describe(device: torch.device) -> str:
    """A short human name, e.g. 'cpu (2 threads)' or 'cuda: NVIDIA H100 80GB HBM3'."""
    if device.type == "cuda":
        return f"cuda: {torch.cuda.get_device_name(device)}"
    return f"cpu ({torch.get_num_threads()} threads)"
