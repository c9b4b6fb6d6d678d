"""What a zero-cost measure is: a function of a freshly initialised network (and a probe batch) to one number.

Measures register with ``@register_measure`` on the function, declaring what they need and cost::

    @register_measure("synflow", data=False, cost="1 forward+backward, float64, batch of 1 ones-image")
    def synflow(model: nn.Module, probe: Probe) -> float: ...

Each gets its own copy of the candidate's network, in training mode, as the references (zero-cost-nas
``foresight/pruners``, NASLib ``predictors/utils/pruners``) give each measure ``net.get_prunable_copy()``.
A higher score ranks a candidate higher (the references' signs, e.g. GraSP's minus).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from proxynas.registry import Registry
from proxynas.scoring.registry import SCORERS, Scorer


@dataclass(frozen=True)
class Probe:
    """What a measure sees besides the network: the minibatch (or, data-free, only its shape) and a seed."""

    images: Tensor | None  # N x C x H x W of the training split; None for data-free scoring
    labels: Tensor | None
    input_shape: tuple[int, int, int]
    num_classes: int
    batch_size: int
    seed: int  # for measures that draw their own inputs or weights (zen)

    def batch(self) -> tuple[Tensor, Tensor]:
        if self.images is None or self.labels is None:
            raise ValueError("this measure needs a minibatch of the training split")
        return self.images, self.labels


MeasureFn = Callable[[nn.Module, Probe], float]


@dataclass(frozen=True)
class Measure:
    name: str
    fn: MeasureFn
    data: bool  # needs a minibatch of real images
    cost: str  # what scoring one candidate takes, in words
    batch_norm: bool = True  # False: BatchNorm layers are identities in this measure's copy (synflow)


MEASURES: Registry[Measure] = Registry("zero-cost measure", builtins=("proxynas.zerocost.*",), group="proxynas.scorers")


class MeasureScorer(Scorer):
    """A zero-cost measure as a scorer: its scores come from ``proxynas score``."""

    def __init__(self, measure: Measure) -> None:
        self.measure = measure
        self.name, self.cost, self.data = measure.name, measure.cost, measure.data  # type: ignore[misc]

    def measures(self) -> tuple[str, ...]:
        return (self.name,)


def register_measure(name: str, *, data: bool, cost: str, batch_norm: bool = True) -> Callable[[MeasureFn], MeasureFn]:
    """Registers the function as a measure, and as a scorer of the same name (:mod:`proxynas.scoring`)."""

    def add(fn: MeasureFn) -> MeasureFn:
        measure = Measure(name, fn, data, cost, batch_norm)
        MEASURES.register(name)(measure)
        SCORERS.register(name)(MeasureScorer(measure))
        return fn

    return add


def weighted_layers(model: nn.Module) -> Iterator[nn.Conv2d | nn.Linear]:
    """The layers the references score: every Conv2d and Linear, in module order."""
    for layer in model.modules():
        if isinstance(layer, (nn.Conv2d, nn.Linear)):
            yield layer


def without_batch_norm(model: nn.Module) -> nn.Module:
    """``model`` with every BatchNorm1d/2d replaced by an identity (the references' ``bn=False`` copy)."""
    for name, child in list(model.named_children()):
        if isinstance(child, (nn.BatchNorm1d, nn.BatchNorm2d)):
            setattr(model, name, nn.Identity())
        else:
            without_batch_norm(child)
    return model


def loss_of(model: nn.Module, images: Tensor, labels: Tensor) -> Tensor:
    return torch.nn.functional.cross_entropy(model(images), labels)
