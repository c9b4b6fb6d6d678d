"""Cross-architecture evaluation: how well a proxy trains networks other than the one it was made with.

The matrix has one row per proxy and one column per network (space-qualified candidate ids, e.g.
``dc_eval:resnet18`` or ``dc_convnet:d3_w128_relu_instancenorm_avgpool``); a cell is the test
accuracy's mean and population standard deviation over ``runs`` seeds, each network trained with the
evaluation protocol of the method that made the proxy (:func:`proxy_protocol`; as ``proxynas
evaluate`` does), or one named protocol for every row. Every run goes through the one pipeline call
(:func:`proxynas.plans.train_into_store`): a rerun trains only what the store lacks, on any executor.
The network a proxy was condensed with (its card's ``net``) is marked, and added as a column when
none of the asked ones is the same network.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from proxynas.engine import Protocol
from proxynas.errors import ProxynasError
from proxynas.identity import set_identity
from proxynas.plans import Plan, TrainingData, plan_rows, train_into_store
from proxynas.presets import list_presets, method_preset, protocol_for
from proxynas.proxies import ProxyCard
from proxynas.spaces import Candidate, get_space, resolve_candidate
from proxynas.store import ResultsStore

# FTD's Table 3 networks (CIFAR-10, ipc 50): what a matrix shows unless told otherwise
DEFAULT_ARCHS = ("dc_eval:convnet", "dc_eval:resnet18", "dc_eval:vgg11", "dc_eval:alexnet")
DEFAULT_SPACE = "dc_eval"  # a bare --arch id is a network of this space


def proxy_protocol(card: ProxyCard, name: str | None = None, *, exact: bool = False,
                   changes: Mapping[str, Any] | None = None) -> tuple[Protocol, str]:
    """The evaluation protocol of the card's method (or ``name``), with ``changes`` (epochs, lr,
    batch_size, augment: None keeps the protocol's); and why that one."""
    if name:
        why = "--protocol"
    else:
        name = method_preset(card.method)
        if name is None:
            raise ProxynasError(f"no evaluation protocol is known for method '{card.method}' of this proxy",
                                f"pass --protocol, one of {', '.join(list_presets())}")
        why = f"the proxy's method is {card.method}"
    facts = {"ipc": card.ipc, "factor": card.settings.get("factor", 1), "method": card.method,
             "syn_lr": (card.settings.get("learned") or {}).get("syn_lr")}  # MTT/FTD's learned step size
    protocol = protocol_for(name, card.dataset, facts, exact=exact)
    changed = protocol.with_(**{k: v for k, v in (changes or {}).items()})
    if changed != protocol:
        changed, why = changed.with_(name=f"{name}, changed"), why + "; settings changed by the options"
    return changed, why


def canonical_network(candidate: Candidate) -> str:
    """One name for networks that are the same in two spaces (``dc_eval:convnet`` is ``dc_convnet``'s
    default ConvNet): what the space's optional ``same_as(candidate)`` names, else the qualified id."""
    same_as = getattr(get_space(candidate.space), "same_as", None)
    return (same_as(candidate) if same_as is not None else None) or candidate.qualified_id


def made_with(card: ProxyCard) -> Candidate | None:
    """The network the proxy was condensed with (its card's ``net``, a bare id is dc_convnet's); None for
    a set made without one (coresets, imported sets)."""
    net = card.settings.get("net")
    if not net:
        return None
    return resolve_candidate(str(net), "dc_convnet")


def columns(archs: Sequence[str], cards: Sequence[ProxyCard]) -> list[Candidate]:
    """The matrix's networks: ``archs`` (a bare id is a dc_eval one; default :data:`DEFAULT_ARCHS`), then
    any network a proxy was made with that none of them is, first."""
    chosen = [resolve_candidate(a, DEFAULT_SPACE) for a in (archs or DEFAULT_ARCHS)]
    names = [canonical_network(c) for c in chosen]
    if len(set(names)) != len(names):
        raise ProxynasError("the same network is named twice in --arch", "name each network once")
    for card in cards:
        own = made_with(card)
        if own is not None and canonical_network(own) not in names:
            chosen.insert(0, own)
            names.insert(0, canonical_network(own))
    return chosen


def plans(candidates: Sequence[Candidate], protocol: Protocol, runs: int, trainset: str, dataset: str,
          fingerprint: str = "") -> list[Plan]:
    """One plan per space (a plan trains candidates of one space), in the columns' order; ``fingerprint``
    names the training set by content (``proxynas.identity``)."""
    by_space: dict[str, list[Candidate]] = {}
    for c in candidates:
        by_space.setdefault(c.space, []).append(c)
    return [Plan(get_space(space), tuple(cs), protocol, runs, trainset=trainset, dataset=dataset,
                 fingerprint=fingerprint)
            for space, cs in by_space.items()]


@dataclass(frozen=True)
class Cell:
    proxy: str
    arch: str  # space-qualified id
    accs: tuple[float, ...]  # test accuracy (%) of each finished run, by seed
    runs: int  # runs asked
    failed: int  # runs that failed (NaN loss)

    @property
    def mean(self) -> float | None:
        return statistics.fmean(self.accs) if self.accs else None

    @property
    def std(self) -> float | None:
        return statistics.pstdev(self.accs) if self.accs else None


@dataclass(frozen=True)
class Row:
    """One proxy: what it is, the protocol it was evaluated with, the network it was made with."""

    proxy: str
    method: str
    dataset: str
    ipc: int
    protocol: str  # the protocol's name
    protocol_key: str
    made_with: str | None  # the column (qualified id) of its own network, or None


@dataclass
class TransferMatrix:
    archs: list[str]  # qualified ids, the columns
    rows: list[Row] = field(default_factory=list)
    cells: dict[tuple[str, str], Cell] = field(default_factory=dict)

    def cell(self, proxy: str, arch: str) -> Cell:
        return self.cells[(proxy, arch)]


@dataclass(frozen=True)
class ProxyInput:
    """A proxy to evaluate: its card and the tensors it trains and is scored on."""

    name: str
    card: ProxyCard
    data: TrainingData


def own_column(card: ProxyCard, archs: Sequence[Candidate]) -> str | None:
    own = made_with(card)
    if own is None:
        return None
    return next((a.qualified_id for a in archs if canonical_network(a) == canonical_network(own)), None)


def matrix_plans(proxy: ProxyInput, archs: Sequence[Candidate], protocol: Protocol, runs: int) -> list[Plan]:
    return plans(archs, protocol, runs, trainset=proxy.name, dataset=proxy.card.dataset,
                 fingerprint=set_identity(proxy.data.train))


def add_row(matrix: TransferMatrix, store: ResultsStore, name: str, card: ProxyCard, proxy_plans: Sequence[Plan],
            archs: Sequence[Candidate]) -> None:
    """Add proxy ``name``'s row to ``matrix`` from what the store holds of its plans (one protocol)."""
    protocol = proxy_plans[0].protocol
    matrix.rows.append(Row(name, card.method, card.dataset, card.ipc, protocol.name or "custom",
                           protocol.key(), own_column(card, archs)))
    for plan in proxy_plans:
        rows = plan_rows(store, plan)
        for c in plan.candidates:
            mine = sorted((r for r in rows if r.candidate == c.id), key=lambda r: r.seed)
            accs = tuple(100 * r.test_acc for r in mine if r.status == "done" and r.test_acc is not None)
            failed = sum(r.status != "done" for r in mine)
            matrix.cells[(name, c.qualified_id)] = Cell(name, c.qualified_id, accs, plan.seeds, failed)


def train_matrix(proxies: Sequence[ProxyInput], archs: Sequence[Candidate], protocols: Sequence[Protocol],
                 runs: int, store: ResultsStore, *, executor: Any = None, max_models: int | None = None,
                 fresh: bool = False, on_epoch: Callable[..., None] | None = None) -> TransferMatrix:
    """Train what the store lacks of every (proxy, network, seed) and return the matrix."""
    if runs < 1:
        raise ProxynasError(f"runs must be at least 1, got {runs}", "pass --runs 1 or more")
    matrix = TransferMatrix([a.qualified_id for a in archs])
    for proxy, protocol in zip(proxies, protocols, strict=True):
        proxy_plans = matrix_plans(proxy, archs, protocol, runs)
        for plan in proxy_plans:
            train_into_store(plan, store, proxy.data, executor=executor, max_models=max_models, fresh=fresh,
                             on_epoch=on_epoch, command="transfer")
        add_row(matrix, store, proxy.name, proxy.card, proxy_plans, archs)
    return matrix


def pending_runs(store: ResultsStore, proxies: Sequence[ProxyInput], archs: Sequence[Candidate],
                 protocols: Sequence[Protocol], runs: int, *, fresh: bool = False) -> list[tuple[Plan, int]]:
    """(plan, runs it still lacks) of every plan the matrix needs."""
    from proxynas.plans import pending

    out = []
    for proxy, protocol in zip(proxies, protocols, strict=True):
        for plan in matrix_plans(proxy, archs, protocol, runs):
            out.append((plan, len(pending(plan, store, fresh=fresh))))
    return out
