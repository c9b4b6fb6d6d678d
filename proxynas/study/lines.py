"""Which line of a TOML text holds a key: ``tomllib`` reports none, so errors find it here.

A key is named by its path, e.g. ``("search", "epochs")``, ``("proxies", 1, "method")`` (the second
``[[proxies]]`` table) or ``("space", "where", "act")`` (a key of an inline table). The search follows
table headers, ``[[array]]`` headers by count, dotted keys and inline tables on one line; a path it
cannot follow falls back to the line of its deepest part that it found.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

KeyPath = Sequence[str | int]

_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")


def _norm(part: str) -> str:
    return part.strip().strip("\"'")


def _header(line: str) -> tuple[bool, tuple[str, ...]] | None:
    """(is an array of tables, dotted name) for a header line, else None."""
    m = _HEADER.match(line)
    if not m:
        return None
    return m[1] == "[[", tuple(_norm(p) for p in m[2].split("."))


def _key_at(line: str, key: str, start: int = 0) -> int | None:
    """Column where ``key =`` (bare or quoted, maybe dotted after) begins in ``line``, from ``start``."""
    pattern = re.compile(r"(^|[\s{,.])[\"']?" + re.escape(key) + r"[\"']?\s*(=|\.)")
    m = pattern.search(line, start)
    return None if m is None else m.start() + len(m[1])


def find_line(text: str, path: KeyPath) -> int | None:
    """1-based line of ``path`` in ``text``; the nearest line found when the whole path is not there."""
    names = [p for p in path if isinstance(p, str)]
    lines = text.splitlines()
    best: int | None = None
    counts: dict[tuple[str, ...], int] = {}
    table: tuple[str, ...] = ()
    table_index: int | None = None
    for number, raw in enumerate(lines, 1):
        line = _code(raw)
        head = _header(line)
        if head is not None:
            is_array, table = head
            table_index = None
            if is_array:
                table_index = counts.get(table, 0)
                counts[table] = table_index + 1
            if _matches_table(path, table, table_index):
                if len(_strings(path)) == len(table):
                    return number
                best = number
            continue
        if not _matches_table(path, table, table_index):
            continue
        rest = names[len(table):]
        if not rest:
            continue
        column = 0
        for depth, key in enumerate(rest):
            found = _key_at(line, key, column)
            if found is None:
                break
            column = found + len(key)
            if depth == len(rest) - 1:
                return number
            best = number
    return best


def _code(line: str) -> str:
    """The line without its comment (a '#' outside quotes starts one)."""
    quote = None
    for i, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "\"'":
            quote = ch
        elif ch == "#":
            return line[:i]
    return line


def _strings(path: KeyPath) -> list[str]:
    return [p for p in path if isinstance(p, str)]


def _matches_table(path: KeyPath, table: tuple[str, ...], index: int | None) -> bool:
    """Whether the current table is a prefix of ``path`` (with the array index, when there is one)."""
    if not table:
        return True
    parts = list(path)
    names = _strings(parts)
    if tuple(names[:len(table)]) != table:
        return False
    if index is None:
        return True
    position = parts.index(table[-1]) if table[-1] in parts else -1
    following = parts[position + 1] if 0 <= position < len(parts) - 1 else None
    return following == index if isinstance(following, int) else False
