"""A search space is a grid of named dimensions; a candidate is one point of it with a stable id."""

from __future__ import annotations

import itertools
import random
from abc import ABC, abstractmethod
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from torch import nn

from proxynas.engine.stack import ListStack, seeded
from proxynas.errors import ProxynasError


@dataclass(frozen=True)
class Candidate:
    """One architecture of a space. ``id`` round-trips through :meth:`SearchSpace.parse`."""

    space: str
    id: str
    config: Mapping[str, Any]

    def __getitem__(self, dim: str) -> Any:
        return self.config[dim]


class SearchSpace(ABC):
    """A Cartesian grid of choices. Subclasses give the dimensions, the id format and the builder."""

    name: str
    dimensions: Mapping[str, Sequence[Any]]

    @abstractmethod
    def format_id(self, config: Mapping[str, Any]) -> str: ...

    @abstractmethod
    def parse_config(self, candidate_id: str) -> dict[str, Any]: ...

    @abstractmethod
    def build(self, candidate: Candidate, input_shape: Sequence[int], num_classes: int) -> nn.Module:
        """A fresh model for inputs of shape (C, H, W), returning logits of shape (N, num_classes)."""

    def stack_key(self, candidate: Candidate) -> Hashable:
        """Candidates with equal keys can train in one stack; by default only seeds of one candidate."""
        return candidate.id

    def build_stack(self, candidates: Sequence[Candidate], seeds: Sequence[int],
                    input_shape: Sequence[int], num_classes: int) -> nn.Module:
        """G fresh models as one stack (see ``proxynas.engine.stack``), model g drawn from ``seeds[g]``."""
        return ListStack([seeded(lambda c=c: self.build(c, input_shape, num_classes), seed)
                          for c, seed in zip(candidates, seeds, strict=True)])

    def __len__(self) -> int:
        n = 1
        for choices in self.dimensions.values():
            n *= len(choices)
        return n

    def candidate(self, config: Mapping[str, Any]) -> Candidate:
        for dim, choices in self.dimensions.items():
            if config.get(dim) not in choices:
                raise ProxynasError(
                    f"{self.name}: {dim}={config.get(dim)!r} is not a choice",
                    f"choose one of {', '.join(map(str, choices))}",
                )
        config = {dim: config[dim] for dim in self.dimensions}
        return Candidate(self.name, self.format_id(config), config)

    def parse(self, candidate_id: str) -> Candidate:
        """The candidate with this id; a clear error for anything that is not one."""
        try:
            config = self.parse_config(candidate_id)
        except (ValueError, IndexError, KeyError):
            raise ProxynasError(
                f"'{candidate_id}' is not a {self.name} candidate id",
                f"ids look like '{self.example_id()}'",
            ) from None
        try:
            candidate = self.candidate(config)
        except ProxynasError as err:
            raise ProxynasError(f"'{candidate_id}' is not a {self.name} candidate id: {err.problem}",
                                err.fix) from None
        if candidate.id != candidate_id:
            raise ProxynasError(f"'{candidate_id}' is not a {self.name} candidate id",
                                f"did you mean '{candidate.id}'?")
        return candidate

    def example_id(self) -> str:
        return self.format_id({dim: choices[0] for dim, choices in self.dimensions.items()})

    def candidates(self, **filters: Any) -> list[Candidate]:
        """All candidates in a fixed order; ``filters`` keep dimension values (one value or a list)."""
        for dim, wanted in filters.items():
            if dim not in self.dimensions:
                raise ProxynasError(f"{self.name} has no dimension '{dim}'",
                                    f"dimensions: {', '.join(self.dimensions)}")
            wanted = wanted if isinstance(wanted, (list, tuple, set, frozenset)) else [wanted]
            bad = [w for w in wanted if w not in self.dimensions[dim]]
            if bad:
                raise ProxynasError(f"{self.name}: {dim}={bad[0]!r} is not a choice",
                                    f"choose from {', '.join(map(str, self.dimensions[dim]))}")
            filters[dim] = set(wanted)
        out = []
        for values in itertools.product(*self.dimensions.values()):
            config = dict(zip(self.dimensions, values, strict=True))
            if all(config[dim] in wanted for dim, wanted in filters.items()):
                out.append(Candidate(self.name, self.format_id(config), config))
        return out

    def sample(self, n: int, seed: int = 0, **filters: Any) -> list[Candidate]:
        """``n`` distinct candidates drawn with ``seed`` (all of them when ``n`` >= the count)."""
        pool = self.candidates(**filters)
        if n >= len(pool):
            return pool
        return random.Random(seed).sample(pool, n)
