"""Condensation methods that make proxy training sets, behind one registry.

Each method module registers its classes with ``@register_method``; importing this package imports them.
"""

from condensed import coresets, dc, dm, dsa, ftd, idc, mtt  # noqa: F401  (each registers its methods)
from condensed.base import Context, Method, Settings
from condensed.registry import METHODS, get_method, list_methods, register_method

__all__ = ["METHODS", "Context", "Method", "Settings", "get_method", "list_methods", "register_method"]
