"""A proxy's card: where its images came from, stored as JSON in the safetensors metadata."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any


@dataclass(frozen=True)
class ProxyCard:
    method: str
    dataset: str
    ipc: int  # images per class as stored (multi-formation methods decode more for training)
    seed: int
    num_classes: int
    shape: tuple[int, int, int]  # (C, H, W) of one training image
    source_fingerprint: str  # TensorSet.fingerprint() of the training split it was made from
    seconds: float  # wall time spent making it
    settings: dict[str, Any] = field(default_factory=dict)
    created: float = 0.0  # unix time
    version: str = ""  # proxynas version that made it
    device: str = ""

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ProxyCard:
        data = json.loads(text)
        names = {f.name for f in fields(cls)}
        data = {k: v for k, v in data.items() if k in names}
        data["shape"] = tuple(data["shape"])
        return cls(**data)
