"""The whole study against the stores: every step's state, and the cost still ahead, estimated."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

from proxynas.datasets import DatasetSplits, load_dataset
from proxynas.errors import DataError
from proxynas.identity import split_identity
from proxynas.proxies import ProxyLibrary
from proxynas.proxies.library import read_proxy
from proxynas.store import ResultsStore
from proxynas.study.estimate import Throughput, measure_throughput, stored_throughput
from proxynas.study.state import ProxyState, TrainState, proxy_state, train_state
from proxynas.study.steps import StudySteps, TrainStep

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StudyStatus:
    steps: StudySteps
    proxies: tuple[ProxyState, ...]
    training: tuple[TrainState, ...]  # search..., truth, baselines..., in run order
    train_images: int | None  # the training split's size (None when its files are missing)
    data_problem: str | None  # why the dataset could not be read, when it could not

    def missing(self) -> list[str]:
        """Steps not (fully) held yet, by title."""
        out = [p.step.label for p in self.proxies if not p.ready]
        return out + [t.step.title for t in self.training if t.todo]

    def complete(self) -> bool:
        return not self.missing()


def load_splits(steps: StudySteps, data_root: str | None) -> tuple[DatasetSplits | None, str | None]:
    """The study's dataset, or None and why not (the plan shows it; a run stops on it)."""
    try:
        return load_dataset(steps.spec.dataset, data_root), None
    except DataError as err:
        problem = err.problem.split("; expected")[0]  # the files it lists are in the run's error
        if len(problem) > 160:
            problem = problem[:157] + "..."
        return None, f"{problem} ({err.fix})" if err.fix else problem


def bind(steps: StudySteps, proxies: ProxyLibrary, split: str | None) -> StudySteps:
    """The steps with each plan naming its training set by content: a search step the fingerprint of
    its proxy's file now (none while it is not made), and so a transfer step, the truth and baselines the
    training split's."""
    def proxy_fingerprint(name: str | None) -> str:
        return read_proxy(proxies.path(name)).data.fingerprint() if name and name in proxies else ""

    def on(step: TrainStep, fingerprint: str) -> TrainStep:
        return replace(step, plan=replace(step.plan, fingerprint=fingerprint))

    return replace(steps, search=tuple(on(s, proxy_fingerprint(s.proxy)) for s in steps.search),
                   truth=on(steps.truth, split or ""), baselines=tuple(on(b, split or "") for b in steps.baselines),
                   transfer=tuple(on(t, proxy_fingerprint(t.proxy)) for t in steps.transfer))


def study_status(steps: StudySteps, results: ResultsStore, proxies: ProxyLibrary,
                 splits: DatasetSplits | None, data_problem: str | None = None) -> StudyStatus:
    fingerprint = split_identity(splits) if splits is not None else None
    steps = bind(steps, proxies, fingerprint)
    states = tuple(proxy_state(c, steps.spec.dataset, proxies, fingerprint) for c in steps.condense)
    by_name = {p.step.name: p for p in states}
    whole = len(splits.train) if splits is not None else None
    training = []
    for step in steps.training():
        if step.proxy is not None:
            proxy = by_name[step.proxy]
            created = proxy.created if proxy.status in ("done", "imported") else None
            training.append(train_state(step, results, proxy.images, created))
        else:
            training.append(train_state(step, results, whole))
    return StudyStatus(steps, states, tuple(training), whole, data_problem)


def throughput(status: StudyStatus, results: ResultsStore, device: str, device_name: str | None,
               proxies: ProxyLibrary) -> Throughput:
    """From the store's rows on this device at this image size, else a short measurement."""
    steps = status.steps
    images = {p.step.name: p.images for p in status.proxies if p.images is not None and p.created is not None}
    for name, card, count in proxies.cards():
        if card.dataset == steps.spec.dataset:
            images.setdefault(name, count)
    if status.train_images is not None:
        images[steps.truth.plan.trainset] = status.train_images
    stored = stored_throughput(results, steps.space.name, steps.spec.dataset, device, images)
    if stored is not None:
        return stored
    log.info("measuring this machine's training throughput")
    return measure_throughput(steps.space, steps.candidates, steps.spec.dataset, device_name,
                              steps.spec.search.protocol)


def estimate(state: TrainState, rate: Throughput) -> float | None:
    """Seconds the step still needs: from its own stored rows when it has some, else from ``rate``."""
    if state.todo == 0:
        return 0.0
    if state.seconds_per_job is not None:
        return state.todo * state.seconds_per_job
    if state.images is None:
        return None
    return rate.seconds(state.todo, state.step.plan.protocol.epochs, state.images) * (state.step.cost_ratio or 1.0)
