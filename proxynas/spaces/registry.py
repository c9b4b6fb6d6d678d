"""Search spaces by name. ``@register_space`` on a :class:`SearchSpace` subclass registers one instance.

The spaces themselves live in the ``search_spaces`` package, which registers them when it is imported;
code that looks a space up by name imports ``search_spaces`` (it re-exports these functions).
"""

from __future__ import annotations

from proxynas.errors import ProxynasError
from proxynas.registry import Registry
from proxynas.spaces.base import Candidate, SearchSpace

SPACES: Registry[SearchSpace] = Registry("search space", builtins=("search_spaces.*",), group="proxynas.spaces")
register_space = SPACES.register_class


def get_space(name: str) -> SearchSpace:
    return SPACES.get(name)


def list_spaces() -> list[str]:
    return SPACES.names()


def resolve_candidate(ref: str, default_space: str) -> Candidate:
    """The candidate a space-qualified id names (``dc_convnet:d3_w128_relu_instancenorm_avgpool``);
    an id without ``space:`` is read as a candidate of ``default_space``."""
    space, sep, candidate_id = ref.partition(":")
    if not sep:
        space, candidate_id = default_space, ref
    if not candidate_id:
        raise ProxynasError(f"'{ref}' names no candidate", f"write it as SPACE:ID, e.g. {default_space}:ID")
    return get_space(space).parse(candidate_id)
