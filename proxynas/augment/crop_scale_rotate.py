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
- ``noise``: add ``noise`` times a standard normal (the reference's ``crop_noise``, for BatchNorm nets).

Not differentiable in a useful sense and not meant to be: it augments real training images.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from scipy import ndimage, special
from torch import Tensor

OPERATIONS = ("crop", "scale", "rotate", "noise")
REFERENCE_MNIST = "crop_scale_rotate"


@dataclass(frozen=True)
class CropScaleRotateParams:
    """The reference strengths (``get_daparam``)."""

    crop: int = 4  # padding, pixels
    scale: float = 0.2  # sides scaled by a factor in [1 - scale, 1 + scale]
    rotate: int = 45  # degrees, an integer in [-rotate, rotate)
    noise: float = 0.001  # standard deviation of the added noise


@dataclass(frozen=True)
class CropScaleRotateDraw:
    """The random numbers of ``count`` images."""

    choice: Tensor  # (count,) index into the strategy's operations
    crop: Tensor  # (count, 2) window offset (rows, columns) in the padded image
    size: Tensor  # (count, 2) scaled (h, w)
    angle: Tensor  # (count,) integer degrees
    noise: Tensor | None = None  # (count, C, H, W) standard normal, when the strategy has noise

    @property
    def count(self) -> int:
        return self.choice.shape[0]


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
        return self.apply(x, self.draw(x.shape[0], x.shape[1:], generator, x.device))

    def draw(self, count: int, shape: Sequence[int], generator: torch.Generator | None,
             device: torch.device) -> CropScaleRotateDraw:
        """Random numbers for ``count`` images of ``shape`` (C, H, W); always the same amount, in order."""
        p, side = self.params, int(shape[1])

        def integers(low: int, high: int, *size: int) -> Tensor:
            return torch.randint(low, high, (count, *size), generator=generator, device=device)

        choice = integers(0, len(self.operations))
        crop = integers(0, 2 * p.crop, 2)
        factor = torch.rand(count, 2, generator=generator, device=device) * (2 * p.scale) + (1 - p.scale)
        size = (factor * side).floor().long()  # the reference's int(uniform * shape[2]), both sides
        angle = integers(-p.rotate, p.rotate)
        noise = None
        if "noise" in self.operations:
            noise = torch.randn(count, *shape, generator=generator, device=device)
        return CropScaleRotateDraw(choice, crop, size, angle, noise)

    def apply(self, x: Tensor, draw: CropScaleRotateDraw) -> Tensor:
        """``x`` (N, C, H, W) with image i transformed by operation ``draw.choice[i]``."""
        means = x.mean(dim=(0, 2, 3))  # the batch's channel means, before any image is changed
        outputs = {op: self._operation(op, x, draw, means) for op in dict.fromkeys(self.operations)}
        stacked = torch.stack([outputs[op] for op in self.operations])
        return stacked[draw.choice, torch.arange(x.shape[0], device=x.device)]

    def _operation(self, op: str, x: Tensor, draw: CropScaleRotateDraw, means: Tensor) -> Tensor:
        if op == "crop":
            return crop(x, draw.crop, self.params.crop, means)
        if op == "scale":
            return scale(x, draw.size)
        if op == "rotate":
            key = (x.shape[2], x.shape[3], x.device)
            if key not in self._rotations:
                self._rotations[key] = _RotationTables(x.shape[2], x.shape[3], self.params.rotate, x.device)
            return self._rotations[key].rotate(x, draw.angle, means.mean())
        assert draw.noise is not None
        return x + self.params.noise * draw.noise


def crop(x: Tensor, offset: Tensor, pad: int, fill: Tensor) -> Tensor:
    """Pad by ``pad`` with ``fill[c]`` per channel; image i keeps the window at ``offset[i]``."""
    n, c, h, w = x.shape
    canvas = fill.view(1, c, 1, 1).expand(n, c, h + 2 * pad, w + 2 * pad).clone()
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
        n, c, h, w = x.shape
        k = angle + self.limit
        coeffs = self.prefilter_h @ x.double() @ self.prefilter_w.T  # cubic B-spline coefficients
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
        out = torch.where(valid.reshape(n, 1, h * w), out, fill.double())
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


def _prefilter(length: int) -> np.ndarray:
    """scipy's cubic-spline prefilter along one axis (mode 'constant') as a matrix: coefficients = P @ v."""
    return ndimage.spline_filter1d(np.eye(length), order=3, axis=0, mode="constant", output=np.float64)
