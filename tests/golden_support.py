"""Helpers of test_golden.py: read the fixtures in tests/golden/ and feed proxynas the same inputs.

The fixtures (``tests/golden/*.safetensors``) are written by ``make_golden.py``, a script kept outside this
repository (see README.md here); each file's metadata names its command line and the reference
repository and commit. The helpers below redraw the fixtures' inputs and weights from their seeds,
and check them against the checksums the fixtures keep.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors import safe_open
from torch import Tensor, nn

from proxynas.augment import DSA, Draw
from proxynas.augment.idc import IDCAugment, IDCDraw

HERE = Path(__file__).resolve().parent / "golden"
NORMS = (nn.GroupNorm, nn.LayerNorm, nn.BatchNorm2d)


@dataclass
class Golden:
    """One fixture file: its tensors and its metadata (JSON values decoded)."""

    tensors: dict[str, Tensor]
    meta: dict[str, Any]

    def __getitem__(self, key: str) -> Tensor:
        return self.tensors[key]

    def prefixed(self, prefix: str) -> dict[str, Tensor]:
        return {k[len(prefix):]: v for k, v in self.tensors.items() if k.startswith(prefix)}

    def draw(self, prefix: str) -> Draw:
        """A DSA ``Draw`` stored under ``prefix`` (the parameters one reference call used)."""
        return Draw(**self.prefixed(prefix))


def load(name: str) -> Golden:
    with safe_open(str(HERE / f"{name}.safetensors"), framework="pt") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (safe_open is no mapping)
        raw = f.metadata()
    meta = {}
    for key, value in raw.items():
        try:
            meta[key] = json.loads(value)
        except json.JSONDecodeError:
            meta[key] = value
    return Golden(tensors, meta)


def randn(seed: int, *shape: int) -> Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def checksum(t: Tensor) -> Tensor:
    d = t.detach().double()
    return torch.stack([d.sum(), d.pow(2).sum(), d.flatten()[0], d.flatten()[-1]])


def same_input(x: Tensor, expected: Tensor) -> None:
    """Check that a redrawn input is the fixture's: its checksum, bit for bit.

    torch.randn's vectorised kernels (AVX2 and AVX-512 draw the same numbers) made the fixtures' inputs;
    its scalar kernel (ATen CPU capability DEFAULT, a CPU without AVX2) rounds its transcendental
    functions otherwise and draws numbers up to 1.6e-6 apart (measured). There the test would compare
    other inputs, so it is skipped, saying why; on any other capability a difference fails.
    """
    if torch.equal(checksum(x), expected):
        return
    if torch.backends.cpu.get_cpu_capability() == "DEFAULT":
        pytest.skip("torch.randn's scalar kernel (ATen CPU capability DEFAULT) draws other inputs than the "
                    "AVX2/AVX-512 kernels that drew the fixture's")
    torch.testing.assert_close(checksum(x), expected, rtol=0, atol=0)


def layers_in_order(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """(role, module) of every layer with weights: conv and norm in depth order, then the classifier."""
    mods = [m for m in model.features.modules() if isinstance(m, (nn.Conv2d, *NORMS))]
    return [*(("conv" if isinstance(m, nn.Conv2d) else "norm", m) for m in mods), ("linear", model.classifier)]


@torch.no_grad()
def fill_weights(model: nn.Module, seed: int) -> Tensor:
    """The generator's weights: He-uniform conv/linear weights, small biases, norm scales near 1.
    Returns (sum, sum of squares) over every weight, as the fixtures record it."""
    g = torch.Generator().manual_seed(seed)
    total = torch.zeros(2, dtype=torch.float64)
    for role, m in layers_in_order(model):
        w, b = m.weight, m.bias
        u = torch.rand(w.shape, generator=g) * 2 - 1
        if role == "norm":
            w.copy_(1 + 0.2 * u)
        else:
            w.copy_(u * math.sqrt(6.0 / w[0].numel()))
        b.copy_((torch.rand(b.shape, generator=g) * 2 - 1) * 0.2)
        for p in (w, b):
            total += torch.stack([p.double().sum(), p.double().pow(2).sum()])
    return total


class Replaying:
    """Hands out recorded draws in order in place of drawing them; each must hold ``count`` transforms."""

    _next: Iterator[Draw | IDCDraw]

    def draw(self, count: int, size: Sequence[int], generator: torch.Generator | None,
             device: torch.device) -> Draw | IDCDraw:
        d = next(self._next)
        assert d.count == count, (d.count, count)
        return d

    def exhausted(self) -> bool:
        return next(self._next, None) is None


class ReplayDSA(Replaying, DSA):
    """DSA whose random draws are the reference's, recorded in order; the transforms are proxynas's own.

    Each ``draw(count, ...)`` returns the next recorded draw, which must hold ``count`` transforms.
    """

    def __init__(self, strategy: str, recorded: Sequence[Draw]) -> None:
        DSA.__init__(self, strategy)
        self._next = iter(recorded)


def idc_draw(golden: Golden, prefix: str) -> IDCDraw:
    """An ``IDCDraw`` stored as ``{prefix}{stage}.{field}`` (the stages of one reference DiffAug call)."""
    stages = sorted({int(k[len(prefix):].split(".")[0]) for k in golden.tensors if k.startswith(prefix)})
    return IDCDraw(tuple(golden.draw(f"{prefix}{s}.") for s in stages))


class ReplayIDCAugment(Replaying, IDCAugment):
    """IDC's chain with the reference's recorded draws, in order; the transforms are proxynas's own."""

    def __init__(self, strategy: str, recorded: Sequence[IDCDraw]) -> None:
        IDCAugment.__init__(self, strategy)
        self._next = iter(recorded)
