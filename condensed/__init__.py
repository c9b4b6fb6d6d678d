"""Condensation methods that make proxy training sets, behind one registry.

Each method module registers its classes with ``@register_method``; the registry imports every module of
this package on its first lookup (and loads the ``proxynas.methods`` entry points), so a new method is one
file here, found without editing a list.
"""

from condensed.base import Context, Method, Settings
from condensed.registry import METHODS, get_method, list_methods, register_method

__all__ = ["METHODS", "Context", "Method", "Settings", "get_method", "list_methods", "register_method"]
