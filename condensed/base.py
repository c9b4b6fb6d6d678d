"""What a condensation method is: a named maker of a small training set from a big one."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, ClassVar

import torch

from proxynas.datasets.base import TensorSet
from proxynas.errors import ProxynasError

Progress = Callable[[int, int], None]  # (steps done, steps total)


@dataclass(frozen=True)
class Context:
    """Everything a method needs besides the data and its settings."""

    dataset: Any  # proxynas.datasets.DatasetInfo: name, shape, flip_ok, mean, std
    device: torch.device
    seed: int = 0
    progress: Progress | None = None
    checkpoint: Path | None = None  # where a resumable method keeps its state between runs

    def report(self, done: int, total: int) -> None:
        if self.progress is not None:
            self.progress(done, total)


@dataclass(frozen=True)
class Settings:
    """Hyper-parameters of a method; subclasses add fields with the reference defaults."""


class Method(ABC):
    """A condensation method. A new one is one module of ``condensed`` (or a third-party module behind a
    ``proxynas.methods`` entry point) with ``@register_method`` on its class, which declares:"""

    name: ClassVar[str]
    kind: ClassVar[str]  # "coreset" (picks real images) or "synthetic" (learns images)
    protocol: ClassVar[str]  # the evaluation protocol its sets train with (proxynas.presets), e.g. "dc"
    settings_type: ClassVar[type[Settings]] = Settings
    # settings overrides for a run of seconds on the digits (the method contract test, the docs' examples)
    quick: ClassVar[dict[str, Any]] = {}

    def settings(self, **overrides: Any) -> Settings:
        """The default settings with ``overrides`` applied; unknown keys are an error."""
        known = {f.name: f for f in fields(self.settings_type)}
        for key in overrides:
            if key not in known:
                raise ProxynasError(f"method '{self.name}' has no setting '{key}'",
                                    f"settings: {', '.join(known) or '(none)'}")
        return self.settings_type(**overrides)

    def card_settings(self, settings: Settings, ipc: int, ctx: Context, shape: tuple[int, ...]) -> dict[str, Any]:
        """The settings a proxy's card records: every field as asked, and ``kind``. A method whose
        settings leave choices to the dataset or ipc adds what they became (IDC: ``resolved``)."""
        return {f.name: getattr(settings, f.name) for f in fields(settings)} | {"kind": self.kind}

    @abstractmethod
    def condense(self, train: TensorSet, ipc: int, settings: Settings, ctx: Context) -> TensorSet:
        """A proxy of ``ipc`` images per class (labels sorted by class), on ``ctx.device``."""
