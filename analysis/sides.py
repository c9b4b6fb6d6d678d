"""One side of a comparison: the stored results of one training set under one protocol.

The ground truth is the training set ``full_{dataset}`` under its longest protocol (trained by
``proxynas truth`` or imported from published results by ``proxynas truth import``); a proxy is the
training set named after it under the protocol it has most rows for. ``--truth-epochs`` and
``--epochs`` pick other protocols when a store holds several.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from proxynas.errors import ProxynasError
from proxynas.store import ResultRow, ResultsStore, truth_trainset


@dataclass(frozen=True)
class Side:
    label: str  # what tables and plots call it: the proxy name, 'truth', 'early_stopping:5'
    kind: str  # 'proxy', 'baseline' or 'truth'
    trainset: str
    protocol: str  # Protocol.key()
    epochs: int
    settings: dict[str, Any]  # the protocol's settings, as stored
    rows: tuple[ResultRow, ...]

    def candidates(self) -> set[str]:
        return {r.candidate for r in self.rows}

    def failed(self) -> set[str]:
        """Candidates with at least one seed that did not finish ('failed' status)."""
        return {r.candidate for r in self.rows if r.status != "done"}

    def done(self) -> set[str]:
        """Candidates whose every stored seed finished."""
        return self.candidates() - self.failed()

    def seeds(self) -> list[int]:
        return sorted({r.seed for r in self.rows})

    def seconds(self, candidates: set[str] | None = None) -> float:
        """Training seconds spent, failed rows included, on ``candidates`` (default: all)."""
        return sum(r.seconds for r in self.rows if candidates is None or r.candidate in candidates)

    def mean(self, column: str, seed: int | None = None) -> dict[str, float]:
        """Mean ``val_acc`` or ``test_acc`` of each done candidate over its seeds (or one); NaN if unset."""
        done = self.done()
        sums: dict[str, list[float]] = {}
        for r in self.rows:
            if r.candidate in done and (seed is None or r.seed == seed):
                value = getattr(r, column)
                sums.setdefault(r.candidate, []).append(math.nan if value is None else value)
        return {c: math.fsum(v) / len(v) for c, v in sums.items()}


def runs(store: ResultsStore, space: str, trainset: str, *, label: str, kind: str) -> list[Side]:
    """Every protocol stored for ``trainset`` in ``space``, as sides."""
    out = []
    for name, key, _dataset, _count in store.trainsets(space):
        if name != trainset:
            continue
        rows = tuple(store.rows(space=space, trainset=trainset, protocol=key))
        settings = store.protocol(key) or {}
        epochs = int(settings.get("epochs", max(r.epochs for r in rows)))
        out.append(Side(label, kind, trainset, key, epochs, settings, rows))
    return out


def _datasets(side: Side) -> set[str]:
    return {r.dataset for r in side.rows}


def truth_command(dataset: str, space: str, epochs: int | None = None) -> str:
    cmd = f"proxynas truth --dataset {dataset} --space {space}"
    return cmd + (f" --epochs {epochs}" if epochs is not None else "")


def select_truth(store: ResultsStore, space: str, dataset: str, epochs: int | None = None) -> Side:
    """The ground truth: the longest full-data protocol, or the one trained ``epochs`` epochs."""
    found = runs(store, space, truth_trainset(dataset), label="truth", kind="truth")
    if not found:
        raise ProxynasError(f"no ground truth for {dataset} ({space}) in {store.path}",
                            f"run `{truth_command(dataset, space)}` on the candidates your proxies searched, "
                            f"or store published accuracies with `proxynas truth import`")
    if epochs is not None:
        chosen = [s for s in found if s.epochs == epochs]
        if not chosen:
            stored = ", ".join(str(e) for e in sorted({s.epochs for s in found}))
            raise ProxynasError(f"no ground truth for {dataset} trained {epochs} epochs (stored: {stored})",
                                f"pass --truth-epochs {stored.split(', ')[-1]} or run "
                                f"`{truth_command(dataset, space, epochs)}`")
        found = chosen
    return max(found, key=lambda s: (s.epochs, len(s.rows)))


def select_proxy(store: ResultsStore, space: str, name: str, dataset: str, epochs: int | None = None) -> Side:
    """A proxy's search results: its protocol with the most rows, or the one trained ``epochs`` epochs."""
    found = runs(store, space, name, label=name, kind="proxy")
    if epochs is not None:
        found = [s for s in found if s.epochs == epochs]
    if not found:
        stored = sorted({t for t, *_ in store.trainsets(space) if not t.startswith("full_")})
        trained = f" trained {epochs} epochs" if epochs is not None else ""
        raise ProxynasError(f"no search results for proxy '{name}'{trained} ({space}); "
                            f"stored proxies: {', '.join(stored) or 'none'}",
                            f"run `proxynas search --proxy {name}"
                            f"{f' --epochs {epochs}' if epochs is not None else ''}` first")
    side = max(found, key=lambda s: (len(s.rows), s.epochs))
    scored_on = _datasets(side)
    if scored_on != {dataset}:
        raise ProxynasError(f"proxy '{name}' was scored on {', '.join(sorted(scored_on))}, not {dataset}",
                            f"compare it with --truth {', '.join(sorted(scored_on))}")
    return side
