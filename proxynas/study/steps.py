"""A study as steps in dependency order: condense each proxy, search on each, the ground truth, the
baselines, then the analysis. Building the steps reads no store; :mod:`proxynas.study.state` says which
ones the stores already hold.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from proxynas.plans import Plan
from proxynas.store import truth_trainset
from proxynas.study.spec import StudySpec, TrainingSpec
from proxynas.study.step_types import CondenseStep, TrainStep
from proxynas.study.transfer_steps import transfer_steps

if TYPE_CHECKING:
    from proxynas.spaces import Candidate, SearchSpace


@dataclass(frozen=True)
class StudySteps:
    spec: StudySpec
    space: SearchSpace
    candidates: tuple[Candidate, ...]  # in a fixed order
    condense: tuple[CondenseStep, ...]
    search: tuple[TrainStep, ...]
    truth: TrainStep
    baselines: tuple[TrainStep, ...]
    scorers: tuple[str, ...] = ()  # baselines that do not train (zero-cost measures, imported tables)
    transfer: tuple[TrainStep, ...] = ()  # the [transfer] matrix: a proxy's networks of one space each

    def training(self) -> tuple[TrainStep, ...]:
        """The training steps in the order they run: search, truth, baselines, transfer."""
        return (*self.search, self.truth, *self.baselines, *self.transfer)


def candidates_of(spec: StudySpec) -> tuple[SearchSpace, tuple[Candidate, ...]]:
    """The search space and the study's candidates (explicit ids, else a sample of the filtered grid)."""
    from search_spaces import get_space

    space = get_space(spec.space.name)
    if spec.space.archs:
        return space, tuple(space.parse(a) for a in spec.space.archs)
    filters = {dim: list(values) for dim, values in spec.space.where.items()}
    unique = spec.space.unique
    if spec.space.sample is not None:
        return space, tuple(space.sample(spec.space.sample, spec.space.sample_seed, unique=unique, **filters))
    return space, tuple(space.candidates(unique=unique, **filters))


def _plan(space: SearchSpace, candidates: tuple[Candidate, ...], training: TrainingSpec, trainset: str,
          dataset: str) -> Plan:
    return Plan(space, candidates, training.protocol, training.seeds, trainset, dataset)


def build_steps(spec: StudySpec) -> StudySteps:
    space, candidates = candidates_of(spec)
    condense = tuple(CondenseStep(p, p.name(spec.dataset)) for p in spec.proxies)
    search = tuple(TrainStep("search", c.name, _plan(space, candidates, spec.search, c.name, spec.dataset), c.name)
                   for c in condense)
    full = truth_trainset(spec.dataset)
    truth = TrainStep("truth", "truth", replace(_plan(space, candidates, spec.truth, full, spec.dataset),
                                                 imported=spec.truth.imported))
    from proxynas.scoring import get_scorer

    scorers = {b: get_scorer(b.partition(":")[0]) for b in spec.baselines}
    training = {b: s.training(s.parse(b), spec.truth) for b, s in scorers.items() if s.trains}  # what it trains
    baselines = tuple(TrainStep("baseline", b, _plan(space, candidates, t, full, spec.dataset))
                      for b, t in training.items())
    untrained = tuple(b for b in spec.baselines if b not in training)

    return StudySteps(spec, space, candidates, condense, search, truth, baselines, untrained,
                      transfer_steps(spec, space, candidates, condense))


def needs_data(steps: StudySteps) -> bool:
    """Whether running the study reads the dataset's files: anything trained or condensed, or a scorer that
    looks at images (data-free scorers and an imported ground truth need only the dataset's name)."""
    from proxynas.scoring import get_scorer

    trains = steps.condense or steps.search or steps.baselines or steps.transfer or steps.truth.plan.imported is None
    named = [get_scorer(s.partition(":")[0]) for s in steps.scorers]
    return bool(trains) or any(get_scorer(n).data for s in named for n in (s.needs or (s.name,)))
