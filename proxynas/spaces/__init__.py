"""The search-space contract every part of proxynas names: candidates, spaces, stacks, the registry.

``search_spaces`` implements spaces against it; importing ``search_spaces`` registers them.
"""

from proxynas.engine.builder import StackBuilder
from proxynas.spaces.base import Candidate, Choice, Config, PlainStacks, SearchSpace
from proxynas.spaces.registry import SPACES, get_space, list_spaces, register_space, resolve_candidate

__all__ = ["SPACES", "Candidate", "Choice", "Config", "PlainStacks", "SearchSpace", "StackBuilder", "get_space",
           "list_spaces", "register_space", "resolve_candidate"]
