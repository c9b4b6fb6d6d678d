"""DSA: DC with differentiable siamese augmentation (Zhao & Bilen, ICML 2021).

The algorithm is :class:`condensed.dc.DC`; only defaults change: ``augment="dsa"``, so the real and
the synthetic batch of a class share one random DSA draw when their gradients are matched, and the
network trains on per-image DSA. Flips are left out for datasets that forbid them (digits, MNIST, SVHN).
And ``init="real"``: the reference's DSA command (readme.md) passes ``--init real``.
"""

from __future__ import annotations

from dataclasses import dataclass

from condensed.dc import DC, DCSettings
from condensed.registry import register_method


@dataclass(frozen=True)
class DSASettings(DCSettings):
    augment: str = "dsa"
    init: str = "real"


@register_method
class DSAMethod(DC):
    name = "dsa"
    protocol = "dsa"
    settings_type = DSASettings
