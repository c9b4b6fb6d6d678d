"""A study's settings, as read and checked from its TOML file: plain frozen dataclasses.

:mod:`proxynas.study.validate` builds them; nothing here reads files or the stores.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from proxynas.engine import Protocol
from proxynas.proxies import ProxyName


@dataclass(frozen=True)
class SpaceSpec:
    """Which candidates of a search space: explicit ids, else a sample of the filtered grid, else all of it."""

    name: str = "dc_convnet"
    sample: int | None = None  # draw this many candidates with ``sample_seed``
    sample_seed: int = 0
    where: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)  # dimension -> values kept
    archs: tuple[str, ...] = ()  # explicit candidate ids (then sample and where are not allowed)
    unique: bool = False  # one candidate per isomorphism class (nb201)


@dataclass(frozen=True)
class ProxySpec:
    """A proxy to make with ``method`` (coreset or synthetic), or one imported under ``imported``."""

    method: str | None = None
    ipc: int | None = None
    seed: int = 0  # the condensation seed
    settings: Mapping[str, Any] = field(default_factory=dict)  # the method's settings the file names
    imported: str | None = None  # the name of a set brought in with `proxynas proxies import`

    def name(self, dataset: str) -> str:
        """The proxy library's name for it: ``{method}_{dataset}_ipc{N}``, or the imported name."""
        if self.imported is not None:
            return self.imported
        assert self.method is not None and self.ipc is not None
        return str(ProxyName(self.method, dataset, self.ipc))


@dataclass(frozen=True)
class TrainingSpec:
    """How candidates are trained (search on a proxy, or the ground truth): a protocol and a seed count."""

    protocol: Protocol
    seeds: int = 1
    imported: str | None = None  # truth only: the protocol name of a truth brought in with `proxynas truth import`


@dataclass(frozen=True)
class MetricsSpec:
    top_k: tuple[int, ...] = (5, 10, 20)  # Spearman over the top k by ground truth
    top_fraction: float = 0.05  # and over the top 5% by ground truth
    resamples: int = 1000  # bootstrap resamples for the report's intervals (0: none)
    bootstrap_seed: int = 0


@dataclass(frozen=True)
class PublishedSpec:
    """Figures the study's source publishes, shown beside the study's own."""

    source: str = ""
    spearman: Mapping[str, float] = field(default_factory=dict)  # compared label -> Spearman's rho


@dataclass(frozen=True)
class TransferSpec:
    """The cross-architecture matrix: every proxy x ``archs`` (space-qualified ids, a bare id is dc_eval's),
    ``runs`` seeds each, with each proxy's method's evaluation protocol (or ``protocol``; ``epochs``
    changes its epochs)."""

    archs: tuple[str, ...]
    runs: int = 3
    protocol: str | None = None
    epochs: int | None = None


@dataclass(frozen=True)
class StudySpec:
    name: str
    dataset: str
    space: SpaceSpec
    proxies: tuple[ProxySpec, ...]
    baselines: tuple[str, ...]  # e.g. "early_stopping:10"
    search: TrainingSpec
    truth: TrainingSpec
    metrics: MetricsSpec
    output: Path  # where the table, plots and report go
    title: str = ""
    source: str = ""  # the paper the study reproduces
    path: Path | None = None  # the file it was read from
    published: PublishedSpec = field(default_factory=PublishedSpec)
    transfer: TransferSpec | None = None  # the [transfer] section: the matrix across architectures

    def proxy_names(self) -> list[str]:
        return [p.name(self.dataset) for p in self.proxies]
