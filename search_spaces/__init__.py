"""Search spaces by name: ``get_space("dc_convnet")``, ``list_spaces()``, ``register_space``."""

from __future__ import annotations

from proxynas.registry import Registry
from search_spaces.base import Candidate, SearchSpace
from search_spaces.dc_convnet import DCConvNetSpace

SPACES: Registry[SearchSpace] = Registry("search space")


def register_space(space: SearchSpace) -> SearchSpace:
    SPACES.register(space.name, space)
    return space


def get_space(name: str) -> SearchSpace:
    return SPACES.get(name)


def list_spaces() -> list[str]:
    return SPACES.names()


register_space(DCConvNetSpace())

__all__ = ["SPACES", "Candidate", "SearchSpace", "get_space", "list_spaces", "register_space"]
