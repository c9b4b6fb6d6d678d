"""Baselines a study trains besides its proxies: rankings that need no proxy file.

A baseline turns its argument (``early_stopping:10`` -> ``"10"``) and the ground-truth training into the
training it needs on the whole training set. New baselines register with ``@register_baseline``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from proxynas.errors import ProxynasError
from proxynas.registry import Registry
from proxynas.study.spec import TrainingSpec

# (argument after ':' or None, the ground truth's training) -> the baseline's training on the whole set
BaselinePlanner = Callable[[str | None, TrainingSpec], TrainingSpec]
BASELINES: Registry[BaselinePlanner] = Registry("baseline")


def register_baseline(name: str) -> Callable[[BaselinePlanner], BaselinePlanner]:
    return BASELINES.register(name)


@register_baseline("early_stopping")
def early_stopping(arg: str | None, truth: TrainingSpec) -> TrainingSpec:
    """The ground-truth protocol cut to E epochs (the same settings otherwise, as ``analysis`` expects)."""
    if arg is None or not arg.isdigit():
        raise ProxynasError(f"early_stopping needs its epochs, got '{arg or ''}'",
                            "write early_stopping:E, e.g. early_stopping:10")
    epochs = int(arg)
    if not 1 <= epochs < truth.protocol.epochs:
        raise ProxynasError(f"early_stopping:{epochs} must train fewer epochs than the ground truth "
                            f"({truth.protocol.epochs}) and at least 1", "pick E between 1 and the truth's epochs")
    return TrainingSpec(replace(truth.protocol, epochs=epochs), truth.seeds)


def baseline_training(spec: str, truth: TrainingSpec) -> TrainingSpec:
    """``spec`` is ``name`` or ``name:argument``."""
    name, sep, arg = spec.partition(":")
    return BASELINES.get(name)(arg if sep else None, truth)
