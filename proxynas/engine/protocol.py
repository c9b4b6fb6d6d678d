"""How a candidate is trained: the reference protocol of the condensation papers, as a dataclass."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from proxynas.errors import ProxynasError

AUGMENTS = ("none", "dsa")


@dataclass(frozen=True)
class Protocol:
    """SGD training settings. ``key()`` identifies results in the store (it leaves ``seed`` out)."""

    epochs: int = 300
    batch_size: int = 256
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 5e-4
    decay_at: float = 0.5  # the learning rate is multiplied by 0.1 at this fraction of the epochs
    augment: str = "none"  # "none" or "dsa" (differentiable siamese augmentation)
    seed: int = 0  # seeds of a run are seed, seed + 1, ...

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ProxynasError(f"epochs must be at least 1, got {self.epochs}", "pass --epochs 1 or more")
        if self.batch_size < 1:
            raise ProxynasError(f"batch size must be at least 1, got {self.batch_size}",
                                "pass a positive size")
        if self.augment not in AUGMENTS:
            raise ProxynasError(f"unknown augmentation '{self.augment}'",
                                f"choose one of {', '.join(AUGMENTS)}")

    @property
    def decay_epoch(self) -> int:
        return int(self.epochs * self.decay_at)

    def settings(self) -> dict[str, Any]:
        """Everything that changes a trained model's accuracy, seed excluded."""
        out = asdict(self)
        del out["seed"]
        return out

    def key(self) -> str:
        blob = json.dumps(self.settings(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:12]

    def with_(self, **changes: Any) -> Protocol:
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Protocol:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})
