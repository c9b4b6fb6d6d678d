"""Is a stored proxy the one asked for? Its card against the asked method, seed and settings.

A proxy is reused only when its card names the same settings. When the only difference is more
iterations of a synthetic method and the run's final checkpoint is kept, the run continues from it
(:func:`condensed.make.make_proxy` resumes from the checkpoint); anything else is made again only when
the user asks for it (``--fresh``): nothing is ever silently swapped.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from condensed.registry import get_method
from proxynas.proxies import ProxyCard

IMPORTED = "imported"
# card entries that follow from the method and its settings, or that it learned (Method.card_settings)
DERIVED = ("kind", "resolved", "learned")


@dataclass(frozen=True)
class Difference:
    key: str
    stored: Any
    asked: Any

    def text(self) -> str:
        return f"{self.key} {self.stored!r} (asked: {self.asked!r})"


@dataclass(frozen=True)
class Verdict:
    """``same``: reuse it; ``continue``: more iterations from the kept checkpoint; ``differs``: remake
    it only with --fresh (``differences`` says what); ``imported``: not made by proxynas."""

    kind: str
    differences: tuple[Difference, ...] = ()
    done_iterations: int | None = None  # for 'continue': where the stored run stopped

    def text(self) -> str:
        return ", ".join(d.text() for d in self.differences)


def _plain(value: Any) -> Any:
    """A value as its card stores it (JSON): tuples become lists."""
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


def asked_settings(method: str, overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Every setting of ``method`` with ``overrides`` applied, as a card stores them."""
    settings = get_method(method).settings(**overrides)
    return {k: _plain(v) for k, v in asdict(settings).items()}


def checkpoint_path(root: Path, name: str) -> Path:
    """Where ``make_proxy`` keeps the run state of proxy ``name`` (between runs, and after the last)."""
    return root / f".{name}.ckpt"


def judge(card: ProxyCard, method: str, seed: int, overrides: Mapping[str, Any], *,
          checkpoint: Path | None = None) -> Verdict:
    """How the stored card compares with the asked method, seed and settings."""
    if card.settings.get("source") == IMPORTED:
        return Verdict(IMPORTED, (Difference("source", "imported", "made by proxynas"),))
    asked = asked_settings(method, overrides)
    stored = {k: v for k, v in card.settings.items() if k not in DERIVED}
    differences = []
    if card.method != method:
        differences.append(Difference("method", card.method, method))
    if card.seed != seed:
        differences.append(Difference("seed", card.seed, seed))
    for key in sorted(set(asked) | set(stored)):
        if stored.get(key) != asked.get(key):
            differences.append(Difference(key, stored.get(key), asked.get(key)))
    if not differences:
        return Verdict("same")
    only_more = (len(differences) == 1 and differences[0].key == "iterations"
                 and isinstance(differences[0].stored, int) and differences[0].asked > differences[0].stored)
    if only_more and get_method(method).kind == "synthetic" and checkpoint is not None and checkpoint.exists():
        return Verdict("continue", tuple(differences), differences[0].stored)
    return Verdict("differs", tuple(differences))


def forget(root: Path, proxy_file: Path, name: str) -> None:
    """Remove a stored proxy and its run state, so that it is made again from the start (``--fresh``)."""
    proxy_file.unlink(missing_ok=True)
    checkpoint_path(root, name).unlink(missing_ok=True)
