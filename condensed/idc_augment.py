"""IDC's augmentations: its DiffAug chain (matching and network updates) and CutMix (network updates).

IDC's ``DiffAug`` (snu-mllab/Efficient-Dataset-Condensation ``misc/augment.py``) differs from DSA's
one-family-per-call: flip, color and cutout are applied whenever the strategy names them, and one of the
other named families (crop, scale, rotate) in between. With ``shared`` one draw serves the whole batch
(``batch=True``: the real and synthetic images of a class matched together); with ``per_image`` every
image gets its own (``batch=False``: network updates). The families and their strengths are the
foundation's DSA operations (``proxynas.augment``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from proxynas.augment import DSA

ALWAYS = ("flip", "color", "cutout")  # applied in this order around the one picked from the rest


class IDCAugment:
    def __init__(self, strategy: str) -> None:
        names = [f for f in strategy.split("_") if f and f != "none"]
        self.strategy = strategy
        self.before = [DSA(f) for f in ALWAYS[:2] if f in names]
        self.choices = [DSA(f) for f in names if f not in ALWAYS]
        self.after = [DSA(f) for f in ALWAYS[2:] if f in names]

    def __repr__(self) -> str:
        return f"IDCAugment('{self.strategy}')"

    def shared(self, x: Tensor, generator: torch.Generator | None) -> Tensor:
        """One random transform for the whole batch."""
        return self._run(x, 1, generator)

    def per_image(self, x: Tensor, generator: torch.Generator | None) -> Tensor:
        """A random transform for every image."""
        return self._run(x, x.shape[0], generator)

    def _run(self, x: Tensor, count: int, generator: torch.Generator | None) -> Tensor:
        stages = list(self.before)
        if len(self.choices) == 1:
            stages.append(self.choices[0])
        elif self.choices:  # one of several: the pick is needed on the host
            pick = int(torch.randint(len(self.choices), (1,), generator=generator, device=x.device))
            stages.append(self.choices[pick])
        stages += self.after
        for stage in stages:
            x = stage.apply(x, stage.draw(count, x.shape[-2:], generator, x.device))
        return x


def cutmix(x: Tensor, y: Tensor, p: float,
           generator: torch.Generator | None) -> tuple[Tensor, Tensor, Tensor]:
    """CutMix as IDC's ``train_epoch`` does it, with probability ``p`` (``--mix_p``) for the batch.

    A box of every image is replaced by the same box of a random partner. Returns the mixed images, the
    partners' labels, and the share of the loss that goes to the original labels (one minus the box's
    area share; 1 when not mixed). The mixing weight is Beta(1, 1) = uniform (the reference's
    ``--beta 1.0``). Computed with masks on the device: no random number goes to the host.
    """
    n, _, h, w = x.shape
    coin, lam, cy, cx = torch.rand(4, generator=generator, device=x.device)
    partner = torch.randperm(n, generator=generator, device=x.device)
    cut = (1.0 - lam).sqrt()
    cut_h, cut_w = (h * cut).floor(), (w * cut).floor()
    row, col = (cy * h).floor(), (cx * w).floor()
    rows, cols = torch.arange(h, device=x.device), torch.arange(w, device=x.device)
    in_rows = (rows >= row - (cut_h / 2).floor()) & (rows < row + (cut_h / 2).floor())
    in_cols = (cols >= col - (cut_w / 2).floor()) & (cols < col + (cut_w / 2).floor())
    box = in_rows[:, None] & in_cols[None, :] & (coin < p)
    mixed = torch.where(box, x[partner], x)
    keep = 1.0 - box.float().mean()
    return mixed, y[partner], keep


def mixed_loss(logits: Tensor, y: Tensor, y_pasted: Tensor, keep: Tensor) -> Tensor:
    return F.cross_entropy(logits, y) * keep + F.cross_entropy(logits, y_pasted) * (1.0 - keep)
