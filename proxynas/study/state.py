"""What the stores already hold of a study: each proxy against its card, each training step's rows.

A proxy counts only when its card names the study's settings (and, when the data is at hand, was made
from the same training split). Search rows older than their proxy's file were trained on an earlier
set of that name: they count as not done (stale) and are retrained (only for plans keyed by name:
a plan keyed by content never holds rows of another set).
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass

from condensed.reuse import asked_settings, checkpoint_path, judge
from proxynas.datasets import dataset_info
from proxynas.plans import pending, plan_rows
from proxynas.proxies import ProxyLibrary
from proxynas.proxies.library import read_header
from proxynas.store import ResultRow, ResultsStore
from proxynas.study.steps import CondenseStep, TrainStep


@dataclass(frozen=True)
class ProxyState:
    step: CondenseStep
    status: str  # 'done', 'missing', 'continue', 'differs', 'no import', 'imported'
    note: str  # what differs and how to fix it; '' when nothing to say
    images: int | None  # images a search trains on (decoded, for multi-formation methods)
    storage: int | None  # images the proxy keeps
    seconds: float | None  # condensing seconds on its card
    created: float | None  # when its file was written

    @property
    def ready(self) -> bool:
        return self.status in ("done", "imported")


@dataclass(frozen=True)
class TrainState:
    step: TrainStep
    total: int  # jobs: candidates x seeds
    done: int  # stored and current
    stale: tuple[ResultRow, ...]  # stored, but trained on an earlier proxy file of that name
    images: int | None  # training images per epoch
    seconds_per_job: float | None  # mean seconds of the stored rows (for the estimate)

    @property
    def todo(self) -> int:
        return self.total - self.done


def condense_command(step: CondenseStep, dataset: str, *, fresh: bool = True) -> str:
    """The ``proxynas condense`` command that makes this proxy with the study's settings."""
    p = step.proxy
    cmd = f"proxynas condense {p.method} --dataset {dataset} --ipc {p.ipc}"
    if p.seed:
        cmd += f" --seed {p.seed}"
    for key, value in p.settings.items():
        cmd += f" --iterations {value}" if key == "iterations" else f" --set {key}={json.dumps(value)}"
    return cmd + (" --fresh" if fresh else "")


def _planned_images(step: CondenseStep, dataset: str) -> tuple[int | None, int | None]:
    p = step.proxy
    if p.imported or p.method is None or p.ipc is None:
        return None, None
    classes = dataset_info(dataset).num_classes
    factor = int(asked_settings(p.method, p.settings).get("factor") or 1)
    return p.ipc * classes * factor ** 2, p.ipc * classes


def proxy_state(step: CondenseStep, dataset: str, store: ProxyLibrary, fingerprint: str | None = None) -> ProxyState:
    """The stored proxy against the study's: ``fingerprint`` is the training split's, when loaded."""
    images, storage = _planned_images(step, dataset)
    p = step.proxy
    if step.name not in store:
        if p.imported:
            return ProxyState(step, "no import", f"import it first: proxynas proxies import FILE --name {step.name}",
                              None, None, None, None)
        return ProxyState(step, "missing", "", images, storage, None, None)
    card, count = read_header(store.path(step.name))
    stored = card.ipc * card.num_classes

    def state(status: str, note: str = "") -> ProxyState:
        return ProxyState(step, status, note, count, stored, card.seconds, card.created)

    if card.dataset != dataset:
        return state("differs", f"it holds {card.dataset} images, the study is on {dataset}")
    if p.imported:
        return state("imported")
    verdict = judge(card, p.method or "", p.seed, p.settings, checkpoint=checkpoint_path(store.root, step.name))
    if verdict.kind == "continue":
        return state("continue", f"it ran {verdict.done_iterations} iterations: the run continues from its "
                                 "checkpoint")
    if verdict.kind != "same":
        return state("differs", f"the stored one was made with {verdict.text()}")
    if fingerprint is not None and card.source_fingerprint != fingerprint:
        return state("differs", "it was made from other training data (its source fingerprint "
                                f"{card.source_fingerprint} is not the training split's {fingerprint})")
    return state("done")


def train_state(step: TrainStep, store: ResultsStore, images: int | None, created: float | None = None) -> TrainState:
    """``created``: when the proxy a search step trains on was written (rows before it are stale)."""
    plan = step.plan
    rows = plan_rows(store, plan)
    # rows keyed by content are the proxy's whenever they were trained; by name alone, those older than its file
    stale = tuple(r for r in rows if created is not None and not plan.fingerprint and r.finished_at < created)
    todo = len(pending(plan, store)) + len(stale)
    current = [r.seconds for r in rows if created is None or r.finished_at >= created]  # the rest of rows
    per_job = statistics.fmean(current) if current else None
    return TrainState(step, len(plan.jobs()), len(plan.jobs()) - todo, stale, images, per_job)
