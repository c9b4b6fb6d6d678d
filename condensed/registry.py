"""Condensation methods by name: ``get_method("herding")``, ``list_methods()``; ``@register_method`` on a
:class:`~condensed.base.Method` subclass registers one instance of it under its ``name``."""

from __future__ import annotations

from condensed.base import Method
from proxynas.registry import Registry

METHODS: Registry[Method] = Registry("condensation method", builtins=("condensed.*",), group="proxynas.methods")
KINDS = ("coreset", "synthetic")


def register_method(cls: type[Method]) -> type[Method]:
    """``@register_method`` on a :class:`Method` subclass: checks what it must declare, registers one instance."""
    for attribute in ("name", "kind", "protocol"):
        if not isinstance(getattr(cls, attribute, None), str):
            raise TypeError(f"method class {cls.__qualname__} declares no {attribute} (a str class attribute)")
    if cls.kind not in KINDS:
        raise TypeError(f"method '{cls.name}': kind must be one of {', '.join(KINDS)}, not '{cls.kind}'")
    return METHODS.register_class(cls)


def get_method(name: str) -> Method:
    return METHODS.get(name)


def list_methods() -> list[str]:
    return METHODS.names()
