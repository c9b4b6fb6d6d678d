"""A study's ``[transfer]`` section: every proxy trained on other networks, the cross-architecture matrix.

``[transfer] archs = [...]; runs = 3; protocol = "dc"; epochs = 300`` adds, after the study's other
steps, one training step per proxy and space: the networks (space-qualified ids; a bare id is a
``dc_eval`` network) trained ``runs`` times on the proxy with the evaluation protocol of the method that
makes it (``protocol`` for all: needed for imported sets, whose method only their card knows), the
numbers ``proxynas transfer`` gives. The study's outputs then hold the matrix (``transfer.csv``,
``transfer.json``, ``transfer.png``, a section of the report). The plan's estimate scales the measured
throughput of the study's candidates by the networks' cost per image (forward FLOPs) over theirs.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from proxynas.datasets import dataset_info
from proxynas.errors import ProxynasError
from proxynas.presets import list_presets, method_preset, protocol_for
from proxynas.study.reader import Reader
from proxynas.study.spec import ProxySpec, StudySpec, TransferSpec
from proxynas.study.step_types import CondenseStep, TrainStep

if TYPE_CHECKING:
    from proxynas.proxies import ProxyLibrary
    from proxynas.spaces import Candidate, SearchSpace
    from proxynas.store import ResultsStore
    from proxynas.transfer import TransferMatrix

TRANSFER_KEYS = ("archs", "runs", "protocol", "epochs")


def read_transfer(reader: Reader, data: Any, proxies: Sequence[ProxySpec]) -> TransferSpec:
    """The checked ``[transfer]`` table."""
    from proxynas.transfer import columns

    table = reader.table(data, ["transfer"], TRANSFER_KEYS, required=("archs",))
    archs = tuple(reader.strings(table["archs"], ["transfer", "archs"]))
    if not archs:
        raise reader.error(["transfer", "archs"], "transfer.archs names no network",
                           'name some, e.g. archs = ["dc_eval:resnet18", "dc_eval:vgg11"]')
    try:
        columns(archs, [])
    except ProxynasError as err:
        raise reader.located(["transfer", "archs"], err) from None
    runs = reader.integer(table.get("runs", 3), ["transfer", "runs"], 1)
    protocol = None
    if "protocol" in table:
        protocol = reader.choice(table["protocol"], ["transfer", "protocol"], "protocol", list_presets())
    epochs = reader.integer(table["epochs"], ["transfer", "epochs"], 1) if "epochs" in table else None
    for i, p in enumerate(proxies):
        known = p.method is not None and method_preset(p.method) is not None
        if protocol is None and not known:
            raise reader.error(["transfer"], f"proxy {i + 1} ({p.imported or p.method}) has no evaluation protocol "
                               "the study can name", 'set transfer.protocol, e.g. protocol = "dc"')
    return TransferSpec(archs, runs, protocol, epochs)


def proxy_facts(proxy: ProxySpec) -> dict[str, Any]:
    """What a protocol asks of a proxy (its card's method, ipc and factor), from the study's settings."""
    from condensed import get_method

    assert proxy.method is not None
    settings = get_method(proxy.method).settings(**proxy.settings)
    return {"ipc": proxy.ipc, "factor": getattr(settings, "factor", 1), "method": proxy.method}


def mean_cost(space: SearchSpace, candidates: Sequence[Candidate], shape: Sequence[int]) -> float | None:
    costs = [space.cost(c, shape) for c in candidates]
    return None if not costs or any(c is None for c in costs) else statistics.fmean(c for c in costs if c)


def transfer_steps(spec: StudySpec, space: SearchSpace, candidates: Sequence[Candidate],
                   condense: Sequence[CondenseStep]) -> tuple[TrainStep, ...]:
    from proxynas.transfer import columns, plans

    if spec.transfer is None:
        return ()
    t = spec.transfer
    archs = columns(t.archs, [])
    shape = dataset_info(spec.dataset).shape
    search_cost = mean_cost(space, candidates, shape)
    out = []
    for step in condense:
        imported = step.proxy.imported is not None
        name = t.protocol or method_preset(str(step.proxy.method))
        facts = {} if imported else proxy_facts(step.proxy)
        protocol = protocol_for(str(name), spec.dataset, facts)
        if t.epochs is not None:
            protocol = protocol.with_(epochs=t.epochs, name=f"{name}, changed")
        for plan in plans(archs, protocol, t.runs, trainset=step.name, dataset=spec.dataset):
            cost = mean_cost(plan.space, plan.candidates, shape)  # type: ignore[arg-type]
            ratio = cost / search_cost if cost and search_cost else None
            out.append(TrainStep("transfer", step.name, plan, step.name, ratio))
    return tuple(out)


def study_matrix(steps: Any, results: ResultsStore, proxies: ProxyLibrary) -> TransferMatrix | None:
    """The study's matrix from the store (None without a [transfer] section)."""
    from proxynas.transfer import TransferMatrix, add_row, columns

    if not steps.transfer:
        return None
    archs = columns(steps.spec.transfer.archs, [])
    matrix = TransferMatrix([a.qualified_id for a in archs])
    cards = {name: card for name, card, _ in proxies.cards()}
    for condense in steps.condense:
        mine = [s.plan for s in steps.transfer if s.proxy == condense.name]
        add_row(matrix, results, condense.name, cards[condense.name], mine, archs)
    return matrix
