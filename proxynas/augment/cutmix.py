"""CutMix as IDC trains with it (snu-mllab/Efficient-Dataset-Condensation ``train.py`` ``train_epoch``).

With probability ``p`` (``--mix_p``) for a batch, a box of every image is replaced by the same box of a
partner image of the batch (a random permutation), and the loss is split between the two labels by
area: ``CE(y) * keep + CE(y_partner) * (1 - keep)``, ``keep`` one minus the box's share of the image.
The mixing weight is Beta(1, 1), i.e. uniform (``--beta 1.0``); the box is centred on a uniform pixel,
``floor(side * sqrt(1 - lam))`` on a side, clipped at the border (``misc/utils.py`` ``rand_bbox``).

A draw (:class:`CutMixDraw`) covers ``batches`` equal batches one after another (one per model of a
stack), each with its own coin, box and partners; :func:`cutmix` applies it with masks on the device.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from proxynas.augment.draws import TensorDraw


@dataclass(frozen=True)
class CutMixDraw(TensorDraw):
    """Per batch: whether it is mixed, the mixing weight, the box centre and the partner of each image."""

    mixed: Tensor  # (B,) bool
    lam: Tensor  # (B,) uniform in [0, 1)
    centre: Tensor  # (B, 2) row and column of the box centre
    partner: Tensor  # (B, n) a permutation of the batch's positions

    @property
    def batches(self) -> int:
        return self.mixed.shape[0]


def draw_cutmix(n: int, size: Sequence[int], p: float, generator: torch.Generator | None,
                device: torch.device | None = None) -> CutMixDraw:
    """The draw of one batch of ``n`` images of ``size`` (H, W), mixed with probability ``p``."""
    h, w = int(size[0]), int(size[1])
    coin, lam, cy, cx = torch.rand(4, generator=generator, device=device)
    partner = torch.randperm(n, generator=generator, device=device)
    centre = torch.stack([(cy * h).floor(), (cx * w).floor()]).long()
    return CutMixDraw((coin < p).view(1), lam.view(1), centre.view(1, 2), partner.view(1, n))


def cutmix(x: Tensor, y: Tensor, draw: CutMixDraw) -> tuple[Tensor, Tensor, Tensor]:
    """Mix ``x`` (B * n, C, H, W): the mixed images, the partners' labels, and ``keep`` per batch (B,)."""
    b = draw.batches
    n, h, w = x.shape[0] // b, x.shape[2], x.shape[3]
    cut = (1.0 - draw.lam).sqrt()  # (B,)
    half_h, half_w = (h * cut).floor().div(2).floor(), (w * cut).floor().div(2).floor()
    row, col = draw.centre[:, 0].to(cut.dtype), draw.centre[:, 1].to(cut.dtype)
    rows = torch.arange(h, device=x.device, dtype=cut.dtype)
    cols = torch.arange(w, device=x.device, dtype=cut.dtype)
    in_rows = (rows >= (row - half_h)[:, None]) & (rows < (row + half_h)[:, None])  # (B, h)
    in_cols = (cols >= (col - half_w)[:, None]) & (cols < (col + half_w)[:, None])  # (B, w)
    box = in_rows[:, :, None] & in_cols[:, None, :] & draw.mixed[:, None, None]  # (B, h, w)
    partner = (draw.partner + n * torch.arange(b, device=x.device)[:, None]).flatten()
    mixed = torch.where(box.repeat_interleave(n, 0)[:, None], x[partner], x)
    keep = 1.0 - box.to(x.dtype).mean((1, 2))
    return mixed, y[partner], keep


def mixed_loss(logits: Tensor, y: Tensor, y_pasted: Tensor, keep: Tensor) -> Tensor:
    """The mean loss of each batch (B,), split between the labels by ``keep`` (B,)."""
    b = keep.shape[0]
    own = F.cross_entropy(logits, y, reduction="none").view(b, -1).mean(1)
    pasted = F.cross_entropy(logits, y_pasted, reduction="none").view(b, -1).mean(1)
    return own * keep + pasted * (1.0 - keep)
