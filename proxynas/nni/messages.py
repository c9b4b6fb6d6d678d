"""Keep out of NNI what NNI 3.0 cannot carry between its processes.

NNI's loader (``nni.load``, json_tricks) strips ``#`` and ``//`` "comments" from the JSON its manager,
tuner and trials exchange. It guesses from the quotes before the mark whether the mark is inside a
string; in a message that nests JSON documents two deep (the parameters in a trial-end event in a
websocket message) the escaped quotes defeat the guess, the tuner dies on the broken message and the
experiment waits forever (microsoft/nni#5684). So ``#`` and ``//`` are refused in everything that
travels that way: the search space (hence the parameters), the tuner's arguments and the NAS
evaluator's arguments. The trial command is not such a message (NNI runs it with bash): a path with
``#`` there works.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from proxynas.errors import ProxynasError

COMMENT_MARKS = ("#", "//")


def unsafe_strings(value: Any) -> list[str]:
    """Every string (keys included) in a nested JSON-like value that holds ``#`` or ``//``."""
    if isinstance(value, str):
        return [value] if any(mark in value for mark in COMMENT_MARKS) else []
    if isinstance(value, Mapping):
        return [s for k, v in value.items() for s in unsafe_strings(k) + unsafe_strings(v)]
    if isinstance(value, (list, tuple, set, frozenset)):
        return [s for item in value for s in unsafe_strings(item)]
    return []


def check_passable(value: Any, what: str) -> None:
    """Raise :class:`ProxynasError` if ``value`` holds text that would hang an NNI experiment."""
    bad = unsafe_strings(value)
    if bad:
        raise ProxynasError(
            f"{what} contains {bad[0]!r}: NNI 3.0 cuts text after '#' or '//' in what it passes between "
            "its processes, and the experiment then hangs (microsoft/nni#5684)",
            "use names and paths without '#' or '//'")
