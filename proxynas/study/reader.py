"""Typed, located access to a parsed TOML document: every problem is one line naming ``file:line``.

``Reader.table(path, keys)`` returns a table and refuses keys it does not know, with the closest match;
``integer``, ``number``, ``string`` and the list getters check a value's type and range. Errors are
:class:`~proxynas.errors.ProxynasError` whose problem starts with ``FILE:LINE:``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from proxynas.errors import ProxynasError, UnknownNameError
from proxynas.study.lines import KeyPath, find_line


def dotted(path: KeyPath) -> str:
    """``proxies[2].method`` for ("proxies", 1, "method")."""
    out = ""
    for part in path:
        out += f"[{part + 1}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def _where(path: KeyPath) -> str:
    """``[search]``, ``proxies[2]`` or ``[space.where]``: how a message names a table."""
    return dotted(path) if isinstance(path[-1], int) else f"[{dotted(path)}]"


@dataclass(frozen=True)
class Reader:
    text: str
    label: str  # the file's name as errors show it

    def where(self, path: KeyPath) -> str:
        line = find_line(self.text, path)
        return f"{self.label}:{line}" if line else self.label

    def error(self, path: KeyPath, problem: str, fix: str | None = None) -> ProxynasError:
        return ProxynasError(f"{self.where(path)}: {problem}", fix)

    def unknown(self, path: KeyPath, kind: str, name: str, valid: Iterable[str], context: str = "") -> ProxynasError:
        """An unknown name, with the closest valid one (difflib, as every registry error has)."""
        err = UnknownNameError(kind, name, valid)
        return self.error(path, err.problem + context, err.fix)

    def located(self, path: KeyPath, err: ProxynasError) -> ProxynasError:
        """``err`` (raised by a registry or a settings class) with the line of ``path`` in front."""
        return self.error(path, err.problem, err.fix)

    def table(self, data: Any, path: KeyPath, keys: Iterable[str], *, required: Iterable[str] = ()) -> dict:
        """``data`` as a table holding only ``keys`` and every one of ``required``."""
        keys = list(keys)
        if not isinstance(data, Mapping):
            raise self.error(path, f"{dotted(path)} must be a table, not {type(data).__name__}",
                             f"write it as [{dotted(path)}] with key = value lines, or {{ key = value }}")
        for key in data:
            if key not in keys:
                if not path:
                    raise self.unknown([key], "section", key, keys)
                raise self.unknown([*path, key], "key", key, keys, f" in {_where(path)}")
        for key in required:
            if key not in data:
                raise self.error(path, f"{_where(path)} needs '{key}'", f"add {key} = ...")
        return dict(data)

    def integer(self, value: Any, path: KeyPath, minimum: int | None = None) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(path, f"{dotted(path)} must be an integer, not {value!r}", "e.g. 10")
        if minimum is not None and value < minimum:
            raise self.error(path, f"{dotted(path)} must be at least {minimum}, got {value}",
                             f"use {minimum} or more")
        return value

    def number(self, value: Any, path: KeyPath, *, positive: bool = False, at_most: float | None = None) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.error(path, f"{dotted(path)} must be a number, not {value!r}", "e.g. 0.01")
        if positive and value <= 0:
            raise self.error(path, f"{dotted(path)} must be positive, got {value}", "use a value above 0")
        if at_most is not None and value > at_most:
            raise self.error(path, f"{dotted(path)} must be at most {at_most}, got {value}",
                             f"use a value up to {at_most}")
        return float(value)

    def string(self, value: Any, path: KeyPath) -> str:
        if not isinstance(value, str) or not value:
            raise self.error(path, f"{dotted(path)} must be a non-empty string, not {value!r}",
                             'write it in quotes, e.g. "digits"')
        return value

    def choice(self, value: Any, path: KeyPath, kind: str, valid: Iterable[str]) -> str:
        value = self.string(value, path)
        valid = list(valid)
        if value not in valid:
            raise self.unknown(path, kind, value, valid)
        return value

    def items(self, value: Any, path: KeyPath) -> list[Any]:
        """A list, or one value standing for a list of one."""
        return list(value) if isinstance(value, list) else [value]

    def strings(self, value: Any, path: KeyPath) -> tuple[str, ...]:
        return tuple(self.string(v, [*path]) for v in self.items(value, path))

    def integers(self, value: Any, path: KeyPath, minimum: int | None = None) -> tuple[int, ...]:
        return tuple(self.integer(v, path, minimum) for v in self.items(value, path))
