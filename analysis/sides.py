"""One side of a comparison: the stored results of one training set (by content) under one protocol, in one
numeric regime.

The ground truth is the training split's rows (``trainset_id`` its fingerprint; or a truth imported by
``proxynas truth import``) under its longest protocol; a proxy is the stored rows of its current file's
fingerprint under the protocol it has most rows for. ``NAME@ID`` asks for another identity: a
fingerprint's first digits, or ``legacy`` (rows migrated from a store older than identities).
``--truth-epochs`` and ``--epochs`` pick other protocols when a store holds several.

Regimes (fp32, tf32, bf16) are never pooled silently: a side whose rows span several is an error
naming them, unless one is chosen (``regime``) or pooling is asked for (``pool_regimes``).

A side is what a scorer (:mod:`proxynas.scoring`) gives when asked (:class:`Ask`): its rows are
:class:`Ranked`, one candidate under one seed, and its ``basis`` says what ranked them: training runs
(``trained``: the truth, a proxy's search, early stopping), scores of untrained networks (``scored``:
zero-cost measures; no epochs) or a table of accuracies someone else measured (``imported``).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from proxynas.errors import ProxynasError
from proxynas.identity import short
from proxynas.store import Group, ResultRow, ResultsStore, truth_trainset

if TYPE_CHECKING:
    from proxynas.proxies import ProxyLibrary

BASES = ("trained", "scored", "imported")


@dataclass(frozen=True)
class Ranked:
    """One candidate under one seed as a side ranks it. ``value`` orders the candidates, higher first: a
    training run's validation accuracy, a scorer's score, an imported table's accuracy; ``test`` is a test
    accuracy where there is one (regret is measured in the ground truth's). ``status`` 'failed': a run that
    failed or a score undefined for the candidate (ranked last, :mod:`analysis.seeds`)."""

    candidate: str
    seed: int
    value: float | None
    test: float | None = None
    status: str = "done"
    seconds: float = 0.0  # device-seconds of training or scoring; what a table reports, 0 when unknown
    dataset: str = ""
    regime: str = ""
    reason: str | None = None

    @classmethod
    def of(cls, row: ResultRow) -> Ranked:
        """A stored training run (or imported accuracy): ranked by its validation accuracy."""
        return cls(row.candidate, row.seed, row.val_acc, row.test_acc, row.status, row.seconds, row.dataset,
                   row.regime, row.reason)


@dataclass(frozen=True)
class Side:
    label: str  # what tables and plots call it: the proxy name, 'truth', 'early_stopping:5', 'synflow'
    kind: str  # 'proxy', 'baseline' or 'truth'
    trainset: str  # the training set's display name; '' when nothing was trained on (basis 'scored')
    protocol: str  # Protocol.key(), or what names a scorer's settings
    epochs: int | None  # None: no training (basis 'scored')
    settings: dict[str, Any]  # the protocol's (or the scorer's) settings, as stored
    rows: tuple[Ranked, ...]  # stored ResultRows given here are read as Ranked.of(row)
    trainset_id: str = ""  # the training set by content (proxynas.identity); 'untrained' when scored
    regime: str = ""  # the numeric regime of its rows; 'a+b' when pooled
    basis: str = "trained"  # 'trained', 'scored' or 'imported' (BASES)
    condense_seconds: float | None = None  # making the proxy it trained on, when known (a proxy's search)

    def __post_init__(self) -> None:
        if self.basis not in BASES:
            raise ValueError(f"basis {self.basis!r} is not one of {', '.join(BASES)}")
        if any(not isinstance(r, Ranked) for r in self.rows):
            object.__setattr__(self, "rows", tuple(r if isinstance(r, Ranked) else Ranked.of(r) for r in self.rows))

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

    def regimes(self) -> list[str]:
        return sorted({r.regime for r in self.rows})

    def seconds(self, candidates: set[str] | None = None) -> float:
        """Device-seconds spent, failed rows included, on ``candidates`` (default: all)."""
        return sum(r.seconds for r in self.rows if candidates is None or r.candidate in candidates)

    def mean(self, column: str, seed: int | None = None) -> dict[str, float]:
        """Mean ``value`` or ``test`` of each done candidate over its seeds (or one); NaN if unset."""
        done = self.done()
        sums: dict[str, list[float]] = {}
        for r in self.rows:
            if r.candidate in done and (seed is None or r.seed == seed):
                value = getattr(r, column)
                sums.setdefault(r.candidate, []).append(math.nan if value is None else value)
        return {c: math.fsum(v) / len(v) for c, v in sums.items()}


@dataclass(frozen=True)
class Choice:
    """Which rows a comparison reads besides the names: an identity, a regime, or all regimes pooled."""

    regime: str | None = None
    pool_regimes: bool = False


@dataclass(frozen=True)
class Ask:
    """What a scorer is asked for its side (``Scorer.side``): the candidates of ``space`` on ``dataset``,
    read from ``store``, beside the ground truth ``truth`` (None while the truth itself is asked for).

    ``arg`` is what followed the name (``early_stopping:5`` -> ``"5"``, the proxy's ``NAME[@ID]`` for a
    search). ``candidates``: a study's own (None: every one stored). ``identity``: the current fingerprint
    of what the side trained on (the training split's for the truth; None when unknown), ``want`` the
    identity asked for instead (``DATASET@ID``), ``epochs`` a protocol's epochs (None: the default one)."""

    store: ResultsStore
    space: str
    dataset: str
    truth: Side | None = None
    arg: str | None = None
    candidates: frozenset[str] | None = None
    choice: Choice = Choice()
    identity: str | None = None
    want: str | None = None
    epochs: int | None = None
    proxy_store: ProxyLibrary | None = None  # the proxies' files now, for a search side's fingerprint and cost

    def among(self) -> set[str]:
        """The candidates to rank: the study's, else the ground truth's, else none known (empty)."""
        if self.candidates is not None:
            return set(self.candidates)
        return self.truth.candidates() if self.truth is not None else set()


def _side(store: ResultsStore, space: str, group: Group, *, label: str, kind: str) -> Side:
    rows = tuple(store.rows(space=space, trainset_id=group.trainset_id, protocol=group.protocol,
                            regime=group.regime))
    settings = store.protocol(group.protocol) or {}
    epochs = int(settings.get("epochs", max(r.epochs for r in rows)))
    return Side(label, kind, group.trainset, group.protocol, epochs, settings, tuple(map(Ranked.of, rows)),
                group.trainset_id, group.regime, "imported" if group.regime == "published" else "trained")


def runs(store: ResultsStore, space: str, trainset: str, *, label: str, kind: str,
         identities: set[str] | None = None) -> list[Side]:
    """Every (identity, protocol, regime) stored for the display name ``trainset`` in ``space``, as sides
    (only ``identities`` when given)."""
    return [_side(store, space, g, label=label, kind=kind) for g in store.groups(space, trainset)
            if identities is None or g.trainset_id in identities]


def one_regime(found: list[Side], what: str, choice: Choice | None) -> list[Side]:
    """``found`` narrowed to one regime: the only one it has; else the chosen one; or, with pooling asked
    for, each protocol's sides merged. Several regimes otherwise are an error that names them (a side of
    one regime is used whatever ``--regime`` says: nothing is pooled there, and the tables name it)."""
    choice = Choice() if choice is None else choice
    regimes: Counter[str] = Counter()
    for s in found:
        if s.regime != "published":  # an imported truth is a side of its own, whatever trained beside it
            regimes[s.regime] += len(s.rows)
    if len(regimes) <= 1:
        return found
    published = [s for s in found if s.regime == "published"]
    listed = ", ".join(f"{r} ({n} rows)" for r, n in sorted(regimes.items()))
    if choice.regime is not None:
        if choice.regime not in regimes:
            raise ProxynasError(f"{what} has no rows in regime {choice.regime}, only {listed}",
                                f"pass --regime {regimes.most_common(1)[0][0]}, or --pool-regimes")
        return published + [s for s in found if s.regime == choice.regime]
    if not choice.pool_regimes:
        raise ProxynasError(f"{what} has rows trained in several numeric regimes: {listed}; they are not pooled",
                            f"pass --regime {regimes.most_common(1)[0][0]} to use one, or --pool-regimes")
    merged: dict[tuple[str, str], Side] = {}
    for s in found:
        if s.regime == "published":
            continue
        key = (s.trainset_id, s.protocol)
        if key in merged:
            m = merged[key]
            merged[key] = replace(m, rows=m.rows + s.rows, regime="+".join(sorted({*m.regime.split("+"), s.regime})))
        else:
            merged[key] = s
    return published + list(merged.values())


def _datasets(side: Side) -> set[str]:
    return {r.dataset for r in side.rows}


def truth_command(dataset: str, space: str, epochs: int | None = None) -> str:
    cmd = f"proxynas truth --dataset {dataset} --space {space}"
    return cmd + (f" --epochs {epochs}" if epochs is not None else "")


def _matching(groups: list[Group], name: str, want: str) -> set[str]:
    """Identities of ``groups`` that ``want`` names: a fingerprint's first digits, 'legacy', or whole."""
    if want == "legacy":
        return {g.trainset_id for g in groups if g.trainset_id == f"legacy:{name}"}
    return {g.trainset_id for g in groups if g.trainset_id == want or g.trainset_id.startswith(want)}


def _stored_ids(groups: list[Group]) -> str:
    ids: dict[str, int] = {}
    for g in groups:
        ids[g.trainset_id] = ids.get(g.trainset_id, 0) + g.count
    return ", ".join(f"{short(i)} ({n} rows)" for i, n in ids.items()) or "none"


def select_truth(store: ResultsStore, space: str, dataset: str, epochs: int | None = None, *,
                 identity: str | None = None, want: str | None = None, choice: Choice | None = None) -> Side:
    """The ground truth: the longest full-data protocol, or the one trained ``epochs`` epochs.

    ``identity``: the training split's fingerprint now (None when its files cannot be read: then the
    only trained identity stored, if there is one); imported truths always count. ``want``: the
    identity asked for (``--truth DATASET@ID``).
    """
    name = truth_trainset(dataset)
    groups = [g for g in store.groups(space, name) if g.dataset == dataset]
    if want is not None:
        ids = _matching(groups, name, want)
        if not ids:
            raise ProxynasError(f"no ground truth for {dataset}@{want} ({space}); stored: {_stored_ids(groups)}",
                                f"pass --truth {dataset}@ID with one of those")
    else:
        trained = {g.trainset_id for g in groups if not g.trainset_id.startswith(("published:", "legacy:"))}
        ids = {g.trainset_id for g in groups if g.trainset_id.startswith("published:")}
        if identity is not None:
            ids |= trained & {identity}
        elif len(trained) == 1:
            ids |= trained
        elif trained:
            raise ProxynasError(f"the training split of {dataset} cannot be read to tell which of its ground "
                                f"truths is current; stored: {_stored_ids(groups)}",
                                f"pass --data-root, or --truth {dataset}@ID")
    found = runs(store, space, name, label="truth", kind="truth", identities=ids)
    if not found:
        older = [g for g in groups if g.trainset_id not in ids]
        hint = (f"; the store holds ground truths of other data ({_stored_ids(older)}): pass --truth "
                f"{dataset}@ID to use one" if older else "")
        raise ProxynasError(f"no ground truth for {dataset} ({space}) on its current training split in "
                            f"{store.path}{hint}",
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
    found = one_regime(found, f"the ground truth of {dataset}", choice)
    return max(found, key=lambda s: (s.epochs, len(s.rows)))


def select_proxy(store: ResultsStore, space: str, name: str, dataset: str, epochs: int | None = None, *,
                 identity: str | None = None, choice: Choice | None = None) -> Side:
    """A proxy's search results: its protocol with the most rows, or the one trained ``epochs`` epochs.

    ``name`` is ``NAME`` (the rows of ``identity``, the proxy file's fingerprint now; with no file, the rows
    of the one set stored under that name) or ``NAME@ID``."""
    name, _, want = name.partition("@")
    groups = store.groups(space, name)
    if want:
        ids = _matching(groups, name, want)
        if not ids:
            raise ProxynasError(f"no search results for {name}@{want} ({space}); stored: {_stored_ids(groups)}",
                                f"pass --proxy {name}@ID with one of those")
    elif identity is None:  # no file of that name: its results if they are of one set, else ask which
        ids = {g.trainset_id for g in groups}
        if len(ids) > 1:
            raise ProxynasError(f"proxy '{name}' is not in the proxy library, so which of its results are current "
                                f"is unknown; stored: {_stored_ids(groups)}", f"pass --proxy {name}@ID")
    else:
        ids = {identity}
    found = runs(store, space, name, label=f"{name}@{want}" if want else name, kind="proxy", identities=ids)
    if epochs is not None:
        found = [s for s in found if s.epochs == epochs]
    if not found:
        stored = sorted({t for t, *_ in store.trainsets(space) if not t.startswith("full_")})
        trained = f" trained {epochs} epochs" if epochs is not None else ""
        older = f"; results of earlier sets of this name: {_stored_ids(groups)} (--proxy {name}@ID)" if groups else ""
        raise ProxynasError(f"no search results for proxy '{name}'{trained} ({space}) on its current file{older}; "
                            f"stored proxies: {', '.join(stored) or 'none'}",
                            f"run `proxynas search --proxy {name}"
                            f"{f' --epochs {epochs}' if epochs is not None else ''}` first")
    found = one_regime(found, f"proxy '{name}'", choice)
    side = max(found, key=lambda s: (len(s.rows), s.epochs))
    scored_on = _datasets(side)
    if scored_on != {dataset}:
        raise ProxynasError(f"proxy '{name}' was scored on {', '.join(sorted(scored_on))}, not {dataset}",
                            f"compare it with --truth {', '.join(sorted(scored_on))}")
    return side
