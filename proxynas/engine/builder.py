"""The stack contract: what the engine needs of a search space, and what it uses when a space offers it.

Required, :class:`StackBuilder`: a ``name``, a ``stack_key`` (candidates with equal keys may train in one
stack) and ``build_stack`` (G fresh models as one module, see :mod:`proxynas.engine.stack`).
:class:`proxynas.spaces.SearchSpace` provides all three; so does :class:`proxynas.spaces.PlainStacks`.

Optional capabilities, each declared by having its method (a runtime-checkable protocol of its own, listed
by :func:`capabilities` and checked for every registered space by ``tests/test_space_contract.py``):

- :class:`CostAware`, ``cost(candidate, input_shape) -> float | None``: what training the candidate on one
  image costs, in a unit common to the space, or None when it cannot tell. The engine starts the costliest
  stacks first (``engine.run.plan_stacks``) and splits a fused stack's measured time by it.
- :class:`LayoutKeyed`, ``layout_key(candidate) -> str``: candidates with equal keys share one CPU layout
  decision (``engine.layout``); without it each candidate decides alone, keyed by its id.

The engine reads them through :func:`cost_of` and :func:`layout_key_of`, never by looking attributes up.
Written with ``typing.Protocol`` spelled out: in proxynas a bare ``Protocol`` is the engine's training
protocol (docs/glossary.md).
"""

from __future__ import annotations

import typing
from collections.abc import Hashable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch import nn

    from proxynas.spaces import Candidate


@typing.runtime_checkable
class StackBuilder(typing.Protocol):
    """What the engine needs to train candidates: a name, which may share a stack, and the stack."""

    name: str

    def stack_key(self, candidate: Candidate) -> Hashable: ...

    def build_stack(self, candidates: Sequence[Candidate], seeds: Sequence[int],
                    input_shape: Sequence[int], num_classes: int) -> nn.Module: ...


@typing.runtime_checkable
class CostAware(typing.Protocol):
    """A builder that can tell what training a candidate costs (None: it cannot tell for this one)."""

    def cost(self, candidate: Candidate, input_shape: Sequence[int]) -> float | None: ...


@typing.runtime_checkable
class LayoutKeyed(typing.Protocol):
    """A builder whose candidates with equal keys share one CPU memory-layout decision."""

    def layout_key(self, candidate: Candidate) -> str: ...


CAPABILITIES: dict[str, type] = {"cost": CostAware, "layout_key": LayoutKeyed}


def capabilities(builder: StackBuilder) -> frozenset[str]:
    """The optional capabilities ``builder`` declares, by name (``"cost"``, ``"layout_key"``)."""
    return frozenset(name for name, kind in CAPABILITIES.items() if isinstance(builder, kind))


def cost_of(builder: StackBuilder, candidate: Candidate, input_shape: Sequence[int]) -> float | None:
    """The builder's cost of ``candidate``, or None when it has no :class:`CostAware` capability or cannot tell."""
    return builder.cost(candidate, input_shape) if isinstance(builder, CostAware) else None


def layout_key_of(builder: StackBuilder, candidate: Candidate) -> str:
    """The key of ``candidate``'s CPU layout decision: the builder's :class:`LayoutKeyed` key, else its id."""
    return builder.layout_key(candidate) if isinstance(builder, LayoutKeyed) else candidate.id
