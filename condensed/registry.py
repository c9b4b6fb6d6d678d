"""Condensation methods by name: ``get_method("herding")``, ``list_methods()``; ``@register_method`` on a
:class:`~condensed.base.Method` subclass registers one instance of it under its ``name``."""

from __future__ import annotations

from condensed.base import Method
from proxynas.registry import Registry

METHODS: Registry[Method] = Registry("condensation method")
register_method = METHODS.register_class


def get_method(name: str) -> Method:
    return METHODS.get(name)


def list_methods() -> list[str]:
    return METHODS.names()
