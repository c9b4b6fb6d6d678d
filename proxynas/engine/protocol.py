"""How a candidate is trained: SGD settings, the learning-rate schedule, augmentation and mixing.

The condensation papers' protocols by name (``dc``, ``dsa``, ``dm``, ``idc``: *presets*) are built in
:mod:`proxynas.presets`; this is the plain dataclass they are made of.

Schedules:

- ``milestones`` (default): ``epochs`` epochs; the learning rate is multiplied by ``gamma`` from epoch
  ``floor(m * epochs)`` on, for every milestone ``m`` (a fraction, ``"1/2"``). With ``("2/3", "5/6")``
  and 0.2 this is IDC's ``MultiStepLR(milestones=[2E // 3, 5E // 6], gamma=0.2)`` stepped per epoch.
- ``evaluate_synset``: the DC reference's own loop (``utils.evaluate_synset``), exactly: ``epochs + 1``
  epochs, the learning rate multiplied by ``gamma`` *after* epoch ``floor(m * epochs) + 1`` (so from
  epoch ``floor(m * epochs) + 2`` on), and a new optimizer at each decay (momentum starts again).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, fields, replace
from fractions import Fraction
from typing import Any

from proxynas.augment import AUGMENTS
from proxynas.errors import ProxynasError

SCHEDULES = ("milestones", "evaluate_synset")
MIXUPS = ("none", "cutmix")


@dataclass(frozen=True)
class Protocol:
    """SGD training settings. ``key()`` identifies results in the store (it leaves ``seed`` and ``name`` out)."""

    epochs: int = 300
    batch_size: int = 256
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 5e-4
    milestones: tuple[str, ...] = ("1/2",)  # fractions of the epochs where the learning rate drops
    gamma: float = 0.1  # the factor of each drop
    schedule: str = "milestones"  # or "evaluate_synset" (see the module docstring)
    augment: str = "none"  # a name of proxynas.augment's registry: "none", "dsa", "crop_scale_rotate", "idc", ...
    mixup: str = "none"  # "cutmix": IDC's CutMix on every batch with probability mix_p
    mix_p: float = 0.5
    optimizer: str = "sgd"  # the step (proxynas.engine.steps): "sgd", or "gsam" (FTD's experts)
    rho: float = 0.01  # gsam: the perturbation's radius
    alpha: float = 0.4  # gsam: the weight of the surrogate gap's direction
    adaptive: bool = True  # gsam: the perturbation scaled by the weights (ASAM's)
    name: str = ""  # the preset this is (proxynas.presets), a label only
    seed: int = 0  # seeds of a run are seed, seed + 1, ...

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ProxynasError(f"epochs must be at least 1, got {self.epochs}", "pass --epochs 1 or more")
        if self.batch_size < 1:
            raise ProxynasError(f"batch size must be at least 1, got {self.batch_size}",
                                "pass a positive size")
        if self.augment not in AUGMENTS:
            raise ProxynasError(f"unknown augmentation '{self.augment}'", f"choose one of {', '.join(AUGMENTS)}")
        if self.schedule not in SCHEDULES:
            raise ProxynasError(f"unknown schedule '{self.schedule}'", f"choose one of {', '.join(SCHEDULES)}")
        if self.mixup not in MIXUPS:
            raise ProxynasError(f"unknown mixup '{self.mixup}'", f"choose one of {', '.join(MIXUPS)}")
        from proxynas.engine.steps import list_steps  # torch-heavy: loaded when a protocol is made

        if self.optimizer not in list_steps():
            raise ProxynasError(f"unknown optimizer '{self.optimizer}'", f"choose one of {', '.join(list_steps())}")
        object.__setattr__(self, "milestones", tuple(self.milestones))
        for m in self.milestones:
            try:
                ok = 0 <= Fraction(m) <= 1
            except (ValueError, ZeroDivisionError):
                ok = False
            if not ok:
                raise ProxynasError(f"milestone '{m}' is not a fraction of the epochs", "write it as '1/2' or '0.5'")

    @property
    def total_epochs(self) -> int:
        """Epochs actually trained (``evaluate_synset`` trains one more)."""
        return self.epochs + 1 if self.schedule == "evaluate_synset" else self.epochs

    def decay_epochs(self) -> list[int]:
        """The epochs (from 0) at which the learning rate drops, in order; drops at epoch 0 are ignored."""
        shift = 2 if self.schedule == "evaluate_synset" else 0
        points = sorted(int(Fraction(m) * self.epochs) + shift for m in self.milestones)
        return [e for e in points if 0 < e < self.total_epochs]

    def lr_at(self, epoch: int) -> float:
        """The learning rate of ``epoch`` (from 0)."""
        return self.lr * self.gamma ** sum(e <= epoch for e in self.decay_epochs())

    @property
    def restarts_optimizer(self) -> bool:
        """Whether the optimizer is made anew at each drop (``evaluate_synset``), momentum and all."""
        return self.schedule == "evaluate_synset"

    def settings(self) -> dict[str, Any]:
        """Everything that changes a trained model's accuracy (seed and name excluded).

        A protocol the earlier form could express (one milestone, x0.1, no mixing) keeps that form's
        ``decay_at``, so its key, and every result stored under it, stays the same; so does one with
        plain SGD (the optimizer's settings appear only with another optimizer).
        """
        out = asdict(self)
        del out["seed"], out["name"]
        if self.optimizer == "sgd":
            for name in ("optimizer", "rho", "alpha", "adaptive"):
                del out[name]
        out["milestones"] = list(self.milestones)
        if len(self.milestones) == 1 and self.gamma == 0.1 and self.schedule == "milestones" and self.mixup == "none":
            for name in ("milestones", "gamma", "schedule", "mixup", "mix_p"):
                del out[name]
            out["decay_at"] = float(Fraction(self.milestones[0]))
        elif self.mixup == "none":
            del out["mix_p"]
        return out

    def describe(self) -> dict[str, Any]:
        """The settings with the name, as the results store keeps them beside the key."""
        return self.settings() | {"name": self.name}

    def key(self) -> str:
        blob = json.dumps(self.settings(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:12]

    def summary(self) -> str:
        """One line: what a run trains with."""
        drops = ", ".join(str(e) for e in self.decay_epochs()) or "none"
        text = (f"{self.total_epochs} epochs, batch {self.batch_size}, SGD lr {self.lr:g} momentum {self.momentum:g} "
                f"wd {self.weight_decay:g}, lr x{self.gamma:g} at epoch {drops}")
        if self.restarts_optimizer:
            text += " (new optimizer)"
        text += f", aug {self.augment}"
        if self.mixup != "none":
            text += f", {self.mixup} p {self.mix_p:g}"
        if self.optimizer != "sgd":
            text += f", {self.optimizer} rho {self.rho:g} alpha {self.alpha:g}{' adaptive' if self.adaptive else ''}"
        return text

    def with_(self, **changes: Any) -> Protocol:
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Protocol:
        """From ``settings()`` or ``describe()`` (the earlier ``decay_at`` form included)."""
        data = dict(data)
        if "decay_at" in data:
            data["milestones"] = (str(Fraction(data.pop("decay_at")).limit_denominator(1000)),)
        names = {f.name for f in fields(cls)}
        return cls(**{k: (tuple(v) if k == "milestones" else v) for k, v in data.items() if k in names})
