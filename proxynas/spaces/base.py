"""The search-space contract: a space is a grid of named dimensions, a candidate one point of it.

A space gives its dimensions, its id format, a model builder and an :meth:`SearchSpace.embed` (the
features before the classifier). The engine trains spaces through the stack contract
(:mod:`proxynas.engine.builder`: :class:`StackBuilder` and its optional capabilities);
by default a stack is a :class:`~proxynas.engine.stack.ListStack` of one model per (candidate, seed),
and a space may build faster stacks of the same models (``dc_convnet``'s grouped convolutions).
"""

from __future__ import annotations

import itertools
import random
from abc import ABC, abstractmethod
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass

from torch import Tensor, nn

from proxynas.engine.builder import layout_key_of
from proxynas.engine.stack import ListStack, seeded
from proxynas.errors import ProxynasError

Choice = int | float | str  # one value of a dimension
Config = Mapping[str, Choice]  # one value per dimension
Filter = Choice | Sequence[Choice] | set[Choice] | frozenset[Choice]  # what ``candidates(dim=...)`` takes


@dataclass(frozen=True)
class Candidate:
    """One architecture of a space. ``id`` round-trips through :meth:`SearchSpace.parse`."""

    space: str
    id: str
    config: Config

    def __getitem__(self, dim: str) -> Choice:
        return self.config[dim]

    @property
    def qualified_id(self) -> str:
        """``space:id``, e.g. ``dc_convnet:d3_w128_relu_instancenorm_avgpool``."""
        return f"{self.space}:{self.id}"


class SearchSpace(ABC):
    """A Cartesian grid of choices. Subclasses give the dimensions, the id format, the builder and
    the embedding; ``@register_space`` (``proxynas.spaces``) on the subclass makes it known by name."""

    name: str
    dimensions: Mapping[str, Sequence[Choice]]

    @abstractmethod
    def format_id(self, config: Config) -> str: ...

    @abstractmethod
    def parse_config(self, candidate_id: str) -> dict[str, Choice]:
        """The config an id names; may raise ValueError, IndexError or KeyError for a malformed id."""

    @abstractmethod
    def build(self, candidate: Candidate, input_shape: Sequence[int], num_classes: int) -> nn.Module:
        """A fresh model for inputs of shape (C, H, W), returning logits of shape (N, num_classes)."""

    @abstractmethod
    def embed(self, model: nn.Module, images: Tensor) -> Tensor:
        """Features of ``images`` just before the classifier of a model :meth:`build` made, (N, D)."""

    def canonical(self, candidate: Candidate) -> Hashable:
        """Equal for candidates that compute the same function (isomorphic cells); by default the id."""
        return candidate.id

    def default(self) -> Candidate:
        """The space's reference candidate (the first one unless a space says otherwise)."""
        return self.parse(self.example_id())

    def stack_key(self, candidate: Candidate) -> Hashable:
        """Candidates with equal keys can train in one stack; by default only seeds of one candidate."""
        return candidate.id

    def cost(self, candidate: Candidate, input_shape: Sequence[int]) -> float | None:
        """What training ``candidate`` on one image of ``input_shape`` costs, in any unit common to the
        space (``dc_convnet``: its convolutions' FLOPs), or None when the space cannot tell cheaply (the
        default). The engine starts the costliest stacks first (``engine.run.plan_stacks``)."""
        return None

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

    def candidate(self, config: Config) -> Candidate:
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

    def candidates(self, *, unique: bool = False, **filters: Filter) -> list[Candidate]:
        """All candidates in a fixed order; ``filters`` keep dimension values (one value or a list);
        ``unique`` keeps the first candidate of each isomorphism class (:meth:`canonical`)."""
        wanted_by_dim: dict[str, set[Choice]] = {}
        for dim, wanted in filters.items():
            if dim not in self.dimensions:
                raise ProxynasError(f"{self.name} has no dimension '{dim}'",
                                    f"dimensions: {', '.join(self.dimensions)}")
            values = set(wanted) if isinstance(wanted, (list, tuple, set, frozenset)) else {wanted}
            bad = [w for w in values if w not in self.dimensions[dim]]
            if bad:
                raise ProxynasError(f"{self.name}: {dim}={bad[0]!r} is not a choice",
                                    f"choose from {', '.join(map(str, self.dimensions[dim]))}")
            wanted_by_dim[dim] = values
        out = []
        for values in itertools.product(*self.dimensions.values()):
            config = dict(zip(self.dimensions, values, strict=True))
            if all(config[dim] in wanted for dim, wanted in wanted_by_dim.items()):
                out.append(Candidate(self.name, self.format_id(config), config))
        if unique:
            first: dict[Hashable, Candidate] = {}
            for c in out:
                first.setdefault(self.canonical(c), c)
            out = list(first.values())
        return out

    def sample(self, n: int, seed: int = 0, *, unique: bool = False, **filters: Filter) -> list[Candidate]:
        """``n`` distinct candidates drawn with ``seed`` (all of them when ``n`` >= the count)."""
        pool = self.candidates(unique=unique, **filters)
        if n >= len(pool):
            return pool
        return random.Random(seed).sample(pool, n)


class PlainStacks:
    """``space`` with plain stacks: models built one by one into a ``ListStack`` (one module per model),
    grouped as the space groups them, or one candidate per stack with ``one_at_a_time``. The reference a
    space's faster stacks must equal, and the benchmarks' one-at-a-time baseline."""

    def __init__(self, space: SearchSpace, *, one_at_a_time: bool = False) -> None:
        self.space, self.name, self.one_at_a_time = space, space.name, one_at_a_time

    def stack_key(self, candidate: Candidate) -> Hashable:
        return candidate.id if self.one_at_a_time else self.space.stack_key(candidate)

    def layout_key(self, candidate: Candidate) -> str:
        return layout_key_of(self.space, candidate)

    def cost(self, candidate: Candidate, input_shape: Sequence[int]) -> float | None:
        return self.space.cost(candidate, input_shape)

    def build_stack(self, candidates: Sequence[Candidate], seeds: Sequence[int],
                    input_shape: Sequence[int], num_classes: int) -> nn.Module:
        return SearchSpace.build_stack(self.space, candidates, seeds, input_shape, num_classes)
