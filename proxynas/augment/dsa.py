"""Differentiable Siamese Augmentation (Zhao & Bilen, ICML 2021), as in VICO-UoE/DatasetCondensation.

Each call picks one *family* of the strategy (color, crop, cutout, flip, scale or rotate) and applies
it with random parameters. Every operation is differentiable in the images, so gradients reach learned
synthetic images through it. Randomness comes only from the ``torch.Generator`` passed in.

Two ways to use it:

>>> dsa = DSA()
>>> out = dsa(x, generator)                        # training: one family per call, parameters per image
>>> draw = dsa.draw(1, x.shape[-2:], generator, x.device)
>>> real, syn = dsa.apply(real, draw), dsa.apply(syn, draw)   # siamese: the same transform on both

A :class:`Draw` holds the random numbers of ``count`` transforms; a draw of one is shared by every image
it is applied to, and ``draw.take(index)`` hands transform ``index[i]`` to image ``i`` (one siamese
transform per class in a batch sorted by class, say). Every family is computed and the drawn one picked
on the device, so no random number ever travels to the host.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import Tensor

from proxynas.augment.draws import TensorDraw

FAMILIES = ("color", "crop", "cutout", "flip", "scale", "rotate")
REFERENCE_STRATEGY = "color_crop_cutout_flip_scale_rotate"


@dataclass(frozen=True)
class DSAParams:
    """The reference strengths (``ParamDiffAug``)."""

    brightness: float = 1.0  # added: (u - 0.5) * brightness
    saturation: float = 2.0  # distance to the channel mean scaled by u * saturation
    contrast: float = 0.5  # distance to the image mean scaled by u + contrast
    crop_pad: float = 0.125  # shift by up to this fraction of the side, zeros coming in
    cutout: float = 0.5  # a square of this fraction of the side set to zero
    flip: float = 0.5  # probability of a horizontal flip
    scale: float = 1.2  # each axis scaled by a factor in [1 / scale, scale]
    rotate: float = 15.0  # degrees, either way


@dataclass(frozen=True)
class Draw(TensorDraw):
    """The random numbers of ``count`` transforms (leading dimension ``count`` everywhere)."""

    family: Tensor  # (count,) index into the strategy
    brightness: Tensor  # (count,) uniform in [0, 1)
    saturation: Tensor  # (count,)
    contrast: Tensor  # (count,)
    shift: Tensor  # (count, 2) integer shift of rows and columns
    cutout: Tensor  # (count, 2) integer centre of the cut square
    flip: Tensor  # (count,) uniform in [0, 1)
    scale: Tensor  # (count, 2) factors of x and y
    angle: Tensor  # (count,) radians

    @property
    def count(self) -> int:
        return self.family.shape[0]

    def take(self, index: Tensor) -> Draw:
        """Transform ``index[i]`` for image ``i``."""
        return replace(self, **{name: t[index] for name, t in self.tensors().items()})

    def share_family(self) -> Draw:
        """The first family for every transform (the reference picks one family per batch)."""
        return replace(self, family=self.family[:1].expand(self.count))


class DSA:
    """Differentiable siamese augmentation with the families of ``strategy`` (``_``-separated)."""

    def __init__(self, strategy: str = REFERENCE_STRATEGY, params: DSAParams | None = None) -> None:
        self.families = tuple(strategy.split("_"))
        unknown = [f for f in self.families if f not in FAMILIES]
        if unknown or not self.families:
            raise ValueError(f"unknown DSA families {unknown} in '{strategy}'; known: {', '.join(FAMILIES)}")
        self.strategy = strategy
        self.params = params or DSAParams()

    def __repr__(self) -> str:
        return f"DSA('{self.strategy}')"

    def __call__(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Augment a batch for training: one family for the batch, its parameters drawn per image."""
        draw = self.draw(x.shape[0], x.shape[-2:], generator, x.device).share_family()
        return self.apply(x, draw)

    def draw_batch(self, count: int, size: Sequence[int], generator: torch.Generator) -> Draw:
        """A training batch's transforms on the CPU: one family for the batch, parameters per image.

        The engine draws one batch per model from that model's own generator (see ``engine.fit``).
        """
        return self.draw(count, size, generator, torch.device("cpu")).share_family()

    def draw(self, count: int, size: Sequence[int], generator: torch.Generator | None,
             device: torch.device) -> Draw:
        """Random numbers for ``count`` transforms of images of ``size`` (H, W).

        Always the same amount of randomness in the same order, so a generator state fixes the result.
        """
        p, h, w = self.params, int(size[0]), int(size[1])

        def uniform(*shape: int) -> Tensor:
            return torch.rand(count, *shape, generator=generator, device=device)

        def integers(low: int, high: int) -> Tensor:
            return torch.randint(low, high, (count,), generator=generator, device=device)

        family = integers(0, len(self.families))
        brightness, saturation, contrast = uniform(), uniform(), uniform()
        dy, dx = int(h * p.crop_pad + 0.5), int(w * p.crop_pad + 0.5)
        shift = torch.stack([integers(-dy, dy + 1), integers(-dx, dx + 1)], 1)
        cut_h, cut_w = cutout_size(h, w, p.cutout)
        cutout = torch.stack([integers(0, h + 1 - cut_h % 2), integers(0, w + 1 - cut_w % 2)], 1)
        flip = uniform()
        scale = uniform(2) * (p.scale - 1.0 / p.scale) + 1.0 / p.scale
        angle = (uniform() - 0.5) * 2 * math.radians(p.rotate)
        return Draw(family, brightness, saturation, contrast, shift, cutout, flip, scale, angle)

    def apply(self, x: Tensor, draw: Draw) -> Tensor:
        """``x`` (N, C, H, W) transformed by ``draw`` (of N transforms, or of one shared by all)."""
        n = x.shape[0]
        if draw.count != n:
            draw = draw.take(torch.zeros(n, dtype=torch.long, device=x.device))
        outputs = {family: self._family_output(family, x, draw) for family in dict.fromkeys(self.families)}
        stacked = torch.stack([outputs[f] for f in self.families])  # (families, N, C, H, W)
        return stacked[draw.family, torch.arange(n, device=x.device)]

    def _family_output(self, family: str, x: Tensor, d: Draw) -> Tensor:
        p = self.params
        if family == "color":
            return color(x, d, p)
        if family == "crop":
            return translate(x, d.shift)
        if family == "cutout":
            return cut_out(x, d.cutout, cutout_size(x.shape[2], x.shape[3], p.cutout))
        if family == "flip":
            return torch.where((d.flip < p.flip).view(-1, 1, 1, 1), x.flip(3), x)
        if family == "scale":
            return affine(x, scale_matrix(d.scale))
        return affine(x, rotation_matrix(d.angle))


def cutout_size(h: int, w: int, ratio: float) -> tuple[int, int]:
    return int(h * ratio + 0.5), int(w * ratio + 0.5)


def color(x: Tensor, d: Draw, p: DSAParams) -> Tensor:
    """Brightness, then saturation, then contrast (the reference's 'color' family)."""
    x = x + (d.brightness.view(-1, 1, 1, 1) - 0.5) * p.brightness
    channel_mean = x.mean(1, keepdim=True)
    x = (x - channel_mean) * (d.saturation.view(-1, 1, 1, 1) * p.saturation) + channel_mean
    image_mean = x.mean((1, 2, 3), keepdim=True)
    return (x - image_mean) * (d.contrast.view(-1, 1, 1, 1) + p.contrast) + image_mean


def translate(x: Tensor, shift: Tensor) -> Tensor:
    """Image i shifted by ``shift[i]`` = (rows, columns): pixel (r, c) reads (r + dy, c + dx), else 0."""
    n, _, h, w = x.shape
    rows = torch.arange(h, device=x.device) + shift[:, :1]  # (n, h)
    cols = torch.arange(w, device=x.device) + shift[:, 1:]  # (n, w)
    inside = ((rows >= 0) & (rows < h))[:, :, None] & ((cols >= 0) & (cols < w))[:, None, :]
    batch = torch.arange(n, device=x.device)[:, None, None]
    moved = x.permute(0, 2, 3, 1)[batch, rows.clamp(0, h - 1)[:, :, None], cols.clamp(0, w - 1)[:, None, :]]
    return moved.permute(0, 3, 1, 2) * inside[:, None].to(x.dtype)


def cut_out(x: Tensor, centre: Tensor, size: tuple[int, int]) -> Tensor:
    """Zero a ``size`` square around ``centre[i]`` in image i (clipped at the border)."""
    _, _, h, w = x.shape
    top = centre[:, :1] - size[0] // 2
    left = centre[:, 1:] - size[1] // 2
    rows = torch.arange(h, device=x.device)
    cols = torch.arange(w, device=x.device)
    in_rows = (rows >= top) & (rows < top + size[0])  # (n, h)
    in_cols = (cols >= left) & (cols < left + size[1])  # (n, w)
    keep = ~(in_rows[:, :, None] & in_cols[:, None, :])
    return x * keep[:, None].to(x.dtype)


def scale_matrix(scale: Tensor) -> Tensor:
    zero = torch.zeros_like(scale[:, 0])
    return torch.stack([torch.stack([scale[:, 0], zero, zero], 1),
                        torch.stack([zero, scale[:, 1], zero], 1)], 1)


def rotation_matrix(angle: Tensor) -> Tensor:
    cos, sin, zero = angle.cos(), angle.sin(), torch.zeros_like(angle)
    return torch.stack([torch.stack([cos, -sin, zero], 1), torch.stack([sin, cos, zero], 1)], 1)


def affine(x: Tensor, theta: Tensor) -> Tensor:
    """Bilinear resampling through the (N, 2, 3) matrices ``theta``, zeros outside."""
    grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
