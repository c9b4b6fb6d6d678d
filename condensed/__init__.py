"""Condensation methods that make proxy training sets, behind one registry."""

from condensed.base import Context, Method, Settings
from condensed.coresets import HerdingCoreset, KCenterCoreset, RandomCoreset
from condensed.registry import METHODS, get_method, list_methods, register_method

for _method in (RandomCoreset(), HerdingCoreset(), KCenterCoreset()):
    register_method(_method)

__all__ = ["METHODS", "Context", "Method", "Settings", "get_method", "list_methods", "register_method"]
