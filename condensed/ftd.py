"""FTD: flat trajectory distillation (Du et al., CVPR 2023; AngusDujw/FTD-distillation ``distill_FTD.py``).

MTT (:mod:`condensed.mtt`) with two changes: the experts train with the sharpness-aware GSAM
(``buffer_FTD.py``; ``proxynas experts --optimizer gsam``), and the result is the exponential moving
average of the synthetic images over the iterations (timm's ``ModelEmaV2`` with ``ema_decay``, updated
after every image step, started from the initial images), which FTD evaluates.

``FTD_TABLE``: CIFAR-10 and CIFAR-100 ipc 10 as ``distill/run_distill.sh`` runs them; other (dataset,
ipc) pairs take MTT's table with FTD's ``ema_decay`` 0.9995 (FTD's own table is an image in its readme,
not read here).
"""

from __future__ import annotations

from dataclasses import dataclass

from condensed.base import Settings
from condensed.mtt import MTT, MTT_TABLE, MTTSettings
from condensed.registry import register_method
from proxynas.errors import ProxynasError

FTD_TABLE = MTT_TABLE | {
    ("cifar10", 10): (30, 2, 20, 100.0, 1e-05, 0.001, True),
    ("cifar100", 10): (20, 2, 40, 1000.0, 1e-05, 0.01, True),
}
REFERENCE_EMA_DECAY = 0.9995  # run_distill.sh --ema_decay (argparse default 0.999)


@dataclass(frozen=True)
class FTDSettings(MTTSettings):
    ema_decay: float = REFERENCE_EMA_DECAY

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0.0 < self.ema_decay < 1.0:
            raise ProxynasError(f"ema_decay must be in (0, 1), got {self.ema_decay}", "--set ema_decay=0.9995")


@register_method
class FTD(MTT):
    name = "ftd"
    protocol = "ftd"
    settings_type = FTDSettings
    expert_optimizer = "gsam"
    table = FTD_TABLE

    def ema_decay(self, settings: Settings) -> float:
        return float(getattr(settings, "ema_decay", REFERENCE_EMA_DECAY))
