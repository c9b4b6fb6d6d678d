"""A small name -> object registry; things register themselves with a decorator, as timm's models do.

    SPACES: Registry[SearchSpace] = Registry("search space")

    @SPACES.register_class            # registers SpaceX() under SpaceX.name
    class SpaceX(SearchSpace):
        name = "x"

    @AUGMENTS.register("none")        # registers the function under "none"
    def no_augment(info): ...

Both return what they decorate, so the decorated name stays usable. There is no other way to register.

A registry made with ``builtins`` and a ``group`` fills itself on its first lookup (``get``, ``names``,
``in``, iteration, ``len``): it imports its built-in modules (``"condensed.*"``: every module of the
package) and loads the third-party plugins of its entry-point group (:mod:`proxynas.plugins`).
"""

from __future__ import annotations

import threading
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

    def __init__(self, kind: str, *, builtins: tuple[str, ...] = (), group: str | None = None) -> None:
        self.kind = kind
        self.builtins, self.group = builtins, group
        self._items: dict[str, T] = {}
        self._found = not builtins and group is None  # True once the plugins have been looked for
        self._finding = False
        self._lock = threading.RLock()  # another thread's first lookup waits for the plugins

    def _find(self) -> None:
        """Import the built-in modules and load the entry points, once (lazily: on the first lookup)."""
        if self._found:
            return
        with self._lock:
            if self._found or self._finding:  # done, or a plugin being imported looks a name up: no loop
                return
            self._finding = True
            try:
                from proxynas.plugins import import_builtins, load_group

                import_builtins(self.builtins)
                if self.group is not None:
                    load_group(self.group, self.kind)
            finally:  # a plugin that failed is reported once, not looked for again
                self._found, self._finding = True, False

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
        self._find()
        try:
            return self._items[name]
        except KeyError:
            raise UnknownNameError(self.kind, name, self._items) from None

    def names(self) -> list[str]:
        self._find()
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        self._find()
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        self._find()
        return len(self._items)
