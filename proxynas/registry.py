"""A small name -> object registry; things register themselves with a decorator, as timm's models do.

    SPACES: Registry[SearchSpace] = Registry("search space")

    @SPACES.register_class            # registers SpaceX() under SpaceX.name
    class SpaceX(SearchSpace):
        name = "x"

    @AUGMENTS.register("none")        # registers the function under "none"
    def no_augment(info): ...

Both return what they decorate, so the decorated name stays usable. There is no other way to register.
"""

from __future__ import annotations

import typing
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from proxynas.errors import UnknownNameError

T = TypeVar("T")


class Named(typing.Protocol):
    name: str


N = TypeVar("N", bound=Named)


class Registry(Generic[T]):
    """Maps names to objects; unknown names raise :class:`UnknownNameError` with the closest match."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def _add(self, name: str, item: T) -> None:
        if name in self._items:
            raise ValueError(f"{self.kind} '{name}' is registered twice")
        self._items[name] = item

    def register(self, name: str) -> Callable[[T], T]:
        """``@registry.register("x")`` on a function or object: registers it under ``x``."""

        def add(item: T) -> T:
            self._add(name, item)
            return item

        return add

    def register_class(self, cls: type[N]) -> type[N]:
        """``@registry.register_class`` on a class with a ``name``: registers one instance, made here."""
        self._add(cls.name, cls())  # type: ignore[arg-type]  # the registry's T is the class's base
        return cls

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            raise UnknownNameError(self.kind, name, self._items) from None

    def names(self) -> list[str]:
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._items)
