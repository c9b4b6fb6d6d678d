"""The DC reference's evaluation augmentation for MNIST: each image gets one of crop, scale or rotate.

VICO-UoE/DatasetCondensation ``utils.augment`` with the ``dc_aug_param`` that ``get_daparam`` gives
MNIST (crop 4, scale 0.2, rotate 45, noise 0.001, strategy ``crop_scale_rotate``): the reference
trains a network on a DC set of MNIST with it, for 1000 epochs. The reference draws with numpy and
transforms one image at a time on the host (scipy for the rotation); this draws with a
``torch.Generator`` and does the same arithmetic for the whole batch on the device:

- ``crop``: pad by ``crop`` pixels filled with the batch's channel means, keep the window at offset
  ``(r, c)``, each in ``[0, 2 * crop)`` (``np.random.permutation(2 * crop)[0]``: a shift of -4..+3).
- ``scale``: nearest-neighbour resize to ``(h, w) = (int(u * H), int(v * H))``, ``u, v`` uniform in
  ``[1 - scale, 1 + scale]``, centred on a zero canvas of side ``max(h, w, H, W)``; the centre window.
- ``rotate``: ``scipy.ndimage.rotate`` by an integer angle in ``[-rotate, rotate)`` degrees (reshape,
  cubic spline, constant mode with the mean of the channel means outside); the centre window.
  Done here as scipy does it: spline coefficients (the prefilter, as one matrix per side), then 4 x 4
  taps per pixel, in float64.

The fill values come from the images of one training batch (the reference's ``mean`` list): a draw
knows how many equal batches it covers (``batches``), so a stack of models, each with its own batch,
gets the same fills, and the same images, as each model alone. The reference's ``noise`` operation
(``crop_noise``, for BatchNorm networks) is left out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch
from scipy import ndimage, special
from torch import Tensor

from proxynas.augment.draws import TensorDraw

OPERATIONS = ("crop", "scale", "rotate")
REFERENCE_MNIST = "crop_scale_rotate"


@dataclass(frozen=True)
class CropScaleRotateParams:
    """The reference strengths (``get_daparam``)."""

    crop: int = 4  # padding, pixels
    scale: float = 0.2  # sides scaled by a factor in [1 - scale, 1 + scale]
    rotate: int = 45  # degrees, an integer in [-rotate, rotate)


@dataclass(frozen=True)
class CropScaleRotateDraw(TensorDraw):
    """The random numbers of ``count`` images, in ``batches`` equal training batches one after another."""

    choice: Tensor  # (count,) index into the strategy's operations
    crop: Tensor  # (count, 2) window offset (rows, columns) in the padded image
    size: Tensor  # (count, 2) scaled (h, w)
    angle: Tensor  # (count,) integer degrees
    batches: int = 1  # the fill values are the channel means of each batch

    @property
    def count(self) -> int:
        return self.choice.shape[0]

    @classmethod
    def cat(cls, draws: Sequence[CropScaleRotateDraw]) -> CropScaleRotateDraw:
        """Several draws (one per model of a stack) one after another; their batches are equal in size."""
        sizes = {d.count // d.batches for d in draws}
        if len(sizes) > 1:
            raise ValueError(f"draws of unequal batch sizes {sorted(sizes)} cannot be joined")
        return replace(super().cat(draws), batches=sum(d.batches for d in draws))


class CropScaleRotate:
    """``strategy``: ``_``-separated operations of :data:`OPERATIONS`; one of them per image."""

    def __init__(self, strategy: str = REFERENCE_MNIST, params: CropScaleRotateParams | None = None) -> None:
        self.operations = tuple(strategy.split("_"))
        unknown = [op for op in self.operations if op not in OPERATIONS]
        if unknown or not self.operations:
            raise ValueError(f"unknown operations {unknown} in '{strategy}'; known: {', '.join(OPERATIONS)}")
        self.strategy = strategy
        self.params = params or CropScaleRotateParams()
        self._rotations: dict[tuple[int, int, torch.device], _RotationTables] = {}

    def __repr__(self) -> str:
        return f"CropScaleRotate('{self.strategy}')"

    def __call__(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Augment one batch."""
        return self.apply(x, self.draw(x.shape[0], x.shape[-2:], generator, x.device))

    def draw_batch(self, count: int, size: Sequence[int], generator: torch.Generator) -> CropScaleRotateDraw:
        """One training batch's draws on the CPU (the engine draws one per model, from its generator)."""
        return self.draw(count, size, generator, torch.device("cpu"))

    def draw(self, count: int, size: Sequence[int], generator: torch.Generator | None,
             device: torch.device) -> CropScaleRotateDraw:
        """Random numbers for one batch of ``count`` images of ``size`` (H, W); always the same amount."""
        p, side = self.params, int(size[0])

        def integers(low: int, high: int, *size: int) -> Tensor:
            return torch.randint(low, high, (count, *size), generator=generator, device=device)

        choice = integers(0, len(self.operations))
        crop = integers(0, 2 * p.crop, 2)
        factor = torch.rand(count, 2, generator=generator, device=device) * (2 * p.scale) + (1 - p.scale)
        size = (factor * side).floor().long()  # the reference's int(uniform * shape[2]), both sides
        angle = integers(-p.rotate, p.rotate)
        return CropScaleRotateDraw(choice, crop, size, angle)

    def apply(self, x: Tensor, draw: CropScaleRotateDraw) -> Tensor:
        """``x`` (N, C, H, W) with image i transformed by operation ``draw.choice[i]``."""
        n = x.shape[0]
        per_batch = n // draw.batches
        # each batch's channel means, taken before any image is changed, one batch at a time (the same
        # arithmetic for a batch whatever else is in x)
        means = torch.stack([x[b * per_batch:(b + 1) * per_batch].mean(dim=(0, 2, 3)) for b in range(draw.batches)])
        means = means.repeat_interleave(per_batch, dim=0)  # (N, C)
        outputs = {op: self._operation(op, x, draw, means) for op in dict.fromkeys(self.operations)}
        stacked = torch.stack([outputs[op] for op in self.operations])
        return stacked[draw.choice, torch.arange(x.shape[0], device=x.device)]

    def _operation(self, op: str, x: Tensor, draw: CropScaleRotateDraw, means: Tensor) -> Tensor:
        if op == "crop":
            return crop(x, draw.crop, self.params.crop, means)
        if op == "scale":
            return scale(x, draw.size)
        key = (x.shape[2], x.shape[3], x.device)
        if key not in self._rotations:
            self._rotations[key] = _RotationTables(x.shape[2], x.shape[3], self.params.rotate, x.device)
        return self._rotations[key].rotate(x, draw.angle, means.mean(1))


def crop(x: Tensor, offset: Tensor, pad: int, fill: Tensor) -> Tensor:
    """Pad by ``pad`` with ``fill[i, c]`` (image, channel); image i keeps the window at ``offset[i]``."""
    n, c, h, w = x.shape
    canvas = fill.view(n, c, 1, 1).expand(n, c, h + 2 * pad, w + 2 * pad).clone()
    canvas[:, :, pad:pad + h, pad:pad + w] = x
    rows = offset[:, :1] + torch.arange(h, device=x.device)  # (n, h)
    cols = offset[:, 1:] + torch.arange(w, device=x.device)  # (n, w)
    batch = torch.arange(n, device=x.device)[:, None, None]
    return canvas.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)


def scale(x: Tensor, size: Tensor) -> Tensor:
    """Image i resized (nearest, as ``F.interpolate``) to ``size[i]``, centred on zeros, centre window."""
    n, _, h, w = x.shape
    out_h, out_w = size[:, 0], size[:, 1]
    side = torch.maximum(torch.maximum(out_h, out_w), torch.tensor(max(h, w), device=x.device))
    # canvas position of output pixel (y, x), minus where the resized image starts on the canvas
    ty = torch.arange(h, device=x.device) + ((side - h) // 2 - (side - out_h) // 2)[:, None]  # (n, h)
    tx = torch.arange(w, device=x.device) + ((side - w) // 2 - (side - out_w) // 2)[:, None]  # (n, w)
    inside = ((ty >= 0) & (ty < out_h[:, None]))[:, :, None] & ((tx >= 0) & (tx < out_w[:, None]))[:, None, :]
    # torch's nearest index: floor(index * (in / out)) in float32, at most in - 1
    sy = (ty.float() * (torch.tensor(float(h), device=x.device) / out_h.float())[:, None]).floor().long()
    sx = (tx.float() * (torch.tensor(float(w), device=x.device) / out_w.float())[:, None]).floor().long()
    sy, sx = sy.clamp(0, h - 1), sx.clamp(0, w - 1)
    batch = torch.arange(n, device=x.device)[:, None, None]
    picked = x.permute(0, 2, 3, 1)[batch, sy[:, :, None], sx[:, None, :]].permute(0, 3, 1, 2)
    return picked * inside[:, None].to(x.dtype)


class _RotationTables:
    """scipy.ndimage.rotate's geometry for every integer angle in [-limit, limit), and its prefilter."""

    def __init__(self, h: int, w: int, limit: int, device: torch.device) -> None:
        self.limit, self.h, self.w = limit, h, w
        matrices, offsets, origins = [], [], []
        for angle in range(-limit, limit):
            cos, sin = special.cosdg(angle), special.sindg(angle)
            rot = np.array([[cos, sin], [-sin, cos]])
            bounds = rot @ [[0, 0, h, h], [0, w, 0, w]]
            out_shape = (np.ptp(bounds, axis=1) + 0.5).astype(int)
            offset = (np.array([h, w]) - 1) / 2 - rot @ ((out_shape - 1) / 2)
            matrices.append(rot)
            offsets.append(offset)
            origins.append([int((out_shape[0] - h) / 2), int((out_shape[1] - w) / 2)])
        as64 = {"dtype": torch.float64, "device": device}
        self.matrix = torch.tensor(np.array(matrices), **as64)  # (A, 2, 2)
        self.offset = torch.tensor(np.array(offsets), **as64)  # (A, 2)
        self.origin = torch.tensor(origins, **as64)  # (A, 2)
        self.prefilter_h = torch.tensor(_prefilter(h), **as64)
        self.prefilter_w = torch.tensor(_prefilter(w), **as64)

    def rotate(self, x: Tensor, angle: Tensor, fill: Tensor) -> Tensor:
        """Image i rotated by ``angle[i]`` degrees, ``fill[i]`` outside."""
        n, c, h, w = x.shape
        k = angle + self.limit
        coeffs = _along_columns(_along_rows(x.double(), self.prefilter_h), self.prefilter_w)  # spline coefficients
        ys = torch.arange(h, dtype=torch.float64, device=x.device)[None, :, None] + self.origin[k, 0, None, None]
        xs = torch.arange(w, dtype=torch.float64, device=x.device)[None, None, :] + self.origin[k, 1, None, None]
        m, off = self.matrix[k], self.offset[k]
        in_y = m[:, 0, 0, None, None] * ys + m[:, 0, 1, None, None] * xs + off[:, 0, None, None]  # (n, h, w)
        in_x = m[:, 1, 0, None, None] * ys + m[:, 1, 1, None, None] * xs + off[:, 1, None, None]
        valid = (in_y >= 0) & (in_y <= h - 1) & (in_x >= 0) & (in_x <= w - 1)
        rows, row_weights = _taps(in_y, h)
        cols, col_weights = _taps(in_x, w)
        flat = coeffs.reshape(n, c, h * w)
        out = torch.zeros(n, c, h * w, dtype=torch.float64, device=x.device)
        for i in range(4):
            for j in range(4):
                index = (rows[i] * w + cols[j]).reshape(n, 1, h * w).expand(n, c, h * w)
                out += flat.gather(2, index) * (row_weights[i] * col_weights[j]).reshape(n, 1, h * w)
        out = torch.where(valid.reshape(n, 1, h * w), out, fill.double().view(n, 1, 1))
        return out.reshape(n, c, h, w).to(x.dtype)


def _taps(coord: Tensor, length: int) -> tuple[list[Tensor], list[Tensor]]:
    """The 4 cubic-spline taps of ``coord`` (mirrored at the borders) and their weights."""
    base = coord.floor()
    t = coord - base
    weights = [(1 - t) ** 3 / 6, (3 * t**3 - 6 * t**2 + 4) / 6, (-3 * t**3 + 3 * t**2 + 3 * t + 1) / 6, t**3 / 6]
    taps = []
    for i in range(4):
        index = base.long() - 1 + i
        index = torch.where(index < 0, -index, index)
        index = torch.where(index >= length, 2 * length - 2 - index, index)
        taps.append(index.clamp(0, length - 1))
    return taps, weights


def _along_rows(x: Tensor, p: Tensor) -> Tensor:
    """``p @ x`` over the rows of every image, summed in a fixed order (image by image the same result
    whatever the batch: a matrix product's summation order may change with its size)."""
    out = torch.zeros_like(x)
    for k in range(p.shape[1]):
        out += p[:, k, None] * x[..., k, None, :]
    return out


def _along_columns(x: Tensor, p: Tensor) -> Tensor:
    """``x @ p.T`` over the columns of every image, in a fixed order."""
    out = torch.zeros_like(x)
    for k in range(p.shape[1]):
        out += x[..., :, k, None] * p[:, k]
    return out


def _prefilter(length: int) -> np.ndarray:
    """scipy's cubic-spline prefilter along one axis (mode 'constant') as a matrix: coefficients = P @ v."""
    return ndimage.spline_filter1d(np.eye(length), order=3, axis=0, mode="constant", output=np.float64)
