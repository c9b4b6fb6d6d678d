"""Run a study's missing steps in dependency order, reporting overall and per-step progress.

Every trained candidate is committed as it finishes (``runs.train_into_store``) and a synthetic proxy
checkpoints as it learns, so a run killed at any point loses at most the stack (or the checkpoint
interval) in flight: the next run starts where this one stopped.
"""

from __future__ import annotations

import logging
import typing
from dataclasses import dataclass, replace

from condensed.make import make_proxy
from condensed.reuse import forget
from proxynas import paths
from proxynas.datasets import DatasetSplits
from proxynas.datasets.zca import whiten_like
from proxynas.engine import resolve_device
from proxynas.engine.executors import ExecutorOptions
from proxynas.errors import ProxynasError
from proxynas.plans import TrainingData, train_into_store
from proxynas.proxies import ProxyLibrary
from proxynas.store import ResultsStore
from proxynas.study.state import ProxyState, condense_command, train_state
from proxynas.study.status import study_status
from proxynas.study.steps import StudySteps, TrainStep

log = logging.getLogger(__name__)


class Reporter(typing.Protocol):
    """What a run tells its caller (the CLI draws bars from it)."""

    def begin(self, total_jobs: int, steps: int) -> None: ...
    def step(self, index: int, title: str, detail: str, total: int, done: int, unit: str) -> None: ...
    def advance(self, done: int, total: int | None = None, jobs: int = 0) -> None: ...  # units done; jobs trained
    def end_step(self) -> None: ...


@dataclass(frozen=True)
class RunOptions:
    executor: ExecutorOptions
    max_models: int | None = None  # models per stack (None: the engine's choice)
    fresh: bool = False  # remake every proxy the study makes and retrain every step
    data_root: str | None = None  # where data-dependent scorers read the training split


def run_study(steps: StudySteps, results: ResultsStore, proxies: ProxyLibrary, splits: DatasetSplits | None,
              options: RunOptions, reporter: Reporter) -> None:
    """Condense, train and score what the stores lack; ``splits`` may be None only when nothing needs the
    dataset's files (:func:`~proxynas.study.steps.needs_data`)."""
    status = study_status(steps, results, proxies, splits)
    steps = status.steps  # each plan naming its training set by content
    to_make = [p for p in status.proxies if (options.fresh and not p.step.proxy.imported) or not p.ready]
    jobs = sum(t.total if options.fresh else t.todo for t in status.training)
    count = len(steps.condense) + len(status.training) + len(steps.scorers)
    reporter.begin(jobs, count)
    index = 0
    for state in status.proxies:
        index += 1
        if state in to_make:
            _condense(state, steps, proxies, splits, options, reporter, index)
        else:
            reporter.step(index, state.step.label, "in the store", 1, 1, "proxy")
            reporter.end_step()
    for step in steps.training():
        index += 1
        if splits is None:  # an imported truth: checked, nothing trained
            _train(step, results, TrainingData(None, None, None), None, options, reporter, index)  # type: ignore[arg-type]
            continue
        created = None
        data = TrainingData(splits.train, splits.val, splits.test)
        if step.proxy is not None:  # made or checked above; its card says when (results before are stale)
            proxy = proxies.load(step.proxy)
            created = proxy.card.created
            seen = whiten_like(proxy.card, splits, paths.home() / "zca")  # MTT/FTD sets made on ZCA'd images
            data = TrainingData(proxy.data, seen.val, seen.test)
            step = replace(step, plan=replace(step.plan, fingerprint=proxy.data.fingerprint()))  # as made now
        _train(step, results, data, created, options, reporter, index)
    for name in steps.scorers:
        index += 1
        _score(name, steps, results, options, reporter, index)


def _score(name: str, steps: StudySteps, results: ResultsStore, options: RunOptions, reporter: Reporter,
           index: int) -> None:
    from proxynas.scoring import ScoreStore, get_scorer
    from proxynas.zerocost.score import score

    candidates = steps.candidates
    with ScoreStore(results.path) as store:
        for measure in get_scorer(name.partition(":")[0]).measures():
            done = [0]

            def start(stored: int, todo: int, measure: str = measure, done: list[int] = done) -> None:
                done[0] = stored
                reporter.step(index, f"score {measure}", f"{len(candidates)} candidates, scored without training",
                              len(candidates), stored, "score")

            def advance(n: int, done: list[int] = done) -> None:
                done[0] += n
                reporter.advance(done[0])

            score(store, measure, steps.space, candidates, steps.spec.dataset, root=options.data_root,
                  progress=advance, on_start=start)
            reporter.end_step()


def _condense(state: ProxyState, steps: StudySteps, proxies: ProxyLibrary, splits: DatasetSplits,
              options: RunOptions, reporter: Reporter, index: int) -> None:
    step, dataset = state.step, steps.spec.dataset
    if state.status == "no import":
        raise ProxynasError(f"proxy {step.name} is not in the store", state.note)
    if step.proxy.imported:
        raise ProxynasError(f"the imported proxy {step.name} does not fit the study: {state.note}",
                            f"import a set of {dataset} under that name")
    seconds_before = 0.0
    if options.fresh or state.status == "differs":
        if not options.fresh:
            path = steps.spec.path or "FILE"
            raise ProxynasError(f"proxy {step.name} in the store does not match the study: {state.note}",
                                f"make it again with `{condense_command(step, dataset)}` (its search results "
                                f"are then retrained), or rerun with `proxynas study run {path} --fresh`")
        forget(proxies.root, proxies.path(step.name), step.name)
    elif state.status == "continue":
        seconds_before = state.seconds or 0.0
    method, ipc = step.proxy.method, step.proxy.ipc
    assert method is not None and ipc is not None
    reporter.step(index, step.label, state.note or "making it", 1, 0, "it")
    make_proxy(proxies, method, splits, ipc, seed=step.proxy.seed, device=resolve_device(options.executor.device),
               progress=lambda done, total: reporter.advance(done, total), seconds_before=seconds_before,
               **step.proxy.settings)
    reporter.end_step()


def _train(step: TrainStep, results: ResultsStore, data: TrainingData, created: float | None,
           options: RunOptions, reporter: Reporter, index: int) -> None:
    plan = step.plan
    state = train_state(step, results, len(data.train) if data.train is not None else 0, created)
    if plan.imported is not None:
        if state.todo:
            raise ProxynasError(f"the imported ground truth {plan.imported} lacks {state.todo} of the study's "
                                f"{state.total} (candidate, seed) results",
                                f"import it first: proxynas truth import ... --dataset {plan.dataset} "
                                "(see docs/nb201.md), or name the study's candidates it holds")
        reporter.step(index, step.title, f"imported as {plan.imported}", state.total, state.total, "cand")
        reporter.end_step()
        return
    if state.stale and not options.fresh:
        log.info("%s: %d results were trained on an earlier %s; retraining them", step.title,
                 len(state.stale), step.proxy)
        results.delete(plan.space.name, plan.identity(), plan.key(), [(r.candidate, r.seed) for r in state.stale])
    total = state.total
    done = 0 if options.fresh else state.done
    detail = (f"{len(plan.candidates)} candidates x {plan.seeds} seed(s) x {plan.protocol.epochs} epochs "
              f"on {len(data.train):,} images")
    if state.stale and not options.fresh:
        detail += f"; {len(state.stale)} trained on an earlier {step.proxy} are retrained"
    reporter.step(index, step.title, detail, total, done, "cand")
    counter = {"done": done}

    def outcome(_: object) -> None:
        counter["done"] += 1
        reporter.advance(counter["done"], jobs=1)

    train_into_store(plan, results, data, executor=options.executor, max_models=options.max_models,
                     fresh=options.fresh, on_outcome=outcome, command="study")
    reporter.end_step()
