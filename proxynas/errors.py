"""Errors raised by proxynas. The CLI turns them into one-line messages; nothing else exits."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class ProxynasError(Exception):
    """A problem the user can fix. ``str(err)`` is one line: what went wrong, then how to fix it."""

    def __init__(self, problem: str, fix: str | None = None) -> None:
        self.problem = problem
        self.fix = fix
        super().__init__(f"{problem} ({fix})" if fix else problem)


class UnknownNameError(ProxynasError, KeyError):
    """A name (dataset, space, method, proxy, ...) that no registry knows."""

    def __init__(self, kind: str, name: str, valid: Iterable[str]) -> None:
        valid = sorted(valid)
        close = difflib.get_close_matches(name, valid, n=1, cutoff=0.5)
        fix = f"did you mean '{close[0]}'? " if close else ""
        fix += f"valid {kind}s: {', '.join(valid) if valid else '(none yet)'}"
        self.kind, self.name, self.valid, self.closest = kind, name, valid, close[0] if close else None
        super().__init__(f"unknown {kind} '{name}'", fix)

    def __str__(self) -> str:  # KeyError would quote the message otherwise
        return Exception.__str__(self)


class DataError(ProxynasError):
    """Dataset files missing, damaged or in an unexpected format."""


class DivergedError(ProxynasError):
    """Training produced a non-finite loss."""
