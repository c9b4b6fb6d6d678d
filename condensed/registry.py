"""Condensation methods by name: ``get_method("herding")``, ``list_methods()``, ``register_method``."""

from __future__ import annotations

from condensed.base import Method
from proxynas.registry import Registry

METHODS: Registry[Method] = Registry("condensation method")


def register_method(method: Method) -> Method:
    METHODS.register(method.name, method)
    return method


def get_method(name: str) -> Method:
    return METHODS.get(name)


def list_methods() -> list[str]:
    return METHODS.names()
