"""A finished study's analysis: its exact plans' rows lined up against the ground truth, and the table.

The sides are built from the study's own plans (its candidates, protocols and seeds), not picked from
the store by name, so results of other studies sharing the store never leak in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from proxynas.errors import ProxynasError
from proxynas.plans import plan_rows
from proxynas.proxies import ProxyLibrary
from proxynas.store import ResultsStore
from proxynas.study.status import StudyStatus
from proxynas.study.steps import TrainStep

if TYPE_CHECKING:
    from analysis import Analysis
    from analysis.paper import PaperTable
    from analysis.sides import Side
    from proxynas.transfer import TransferMatrix


@dataclass(frozen=True)
class StudyResults:
    study: Analysis  # metrics with intervals, for the report and plots
    table: PaperTable  # the papers' table
    transfer: TransferMatrix | None = None  # the [transfer] matrix, when the study has one


def _side(step: TrainStep, results: ResultsStore) -> Side:
    from analysis.sides import Side

    plan = step.plan
    kind = {"search": "proxy", "truth": "truth", "baseline": "baseline"}[step.kind]
    rows = tuple(plan_rows(results, plan))
    regimes = sorted({r.regime for r in rows})
    if len(regimes) > 1:
        counts = ", ".join(f"{g} ({sum(r.regime == g for r in rows)} rows)" for g in regimes)
        raise ProxynasError(f"{step.title} has rows trained in several numeric regimes: {counts}; they are not "
                            "pooled", "finish the study in one regime (the rows of the other stay in the store), "
                            "or compare them with `proxynas correlate --regime R` / `--pool-regimes`")
    return Side(step.label, kind, plan.trainset, plan.key(), plan.protocol.epochs, plan.protocol.settings(),
                rows, plan.identity(), regimes[0] if regimes else "",
                "imported" if regimes == ["published"] else "trained")


def analyse(status: StudyStatus, results: ResultsStore, proxies: ProxyLibrary) -> StudyResults:
    """The study's metrics and table; an error naming the missing steps when it is not complete."""
    from analysis import compare_sides
    from analysis.paper import paper_table

    missing = status.missing()
    if missing:
        path = status.steps.spec.path or status.steps.spec.name
        raise ProxynasError(f"the study is not complete: {len(missing)} step(s) missing ({'; '.join(missing)})",
                            f"run `proxynas study run {path}` first")
    steps, spec = status.steps, status.steps.spec
    seconds = {p.step.name: p.seconds for p in status.proxies}
    storage: dict[str, int | None] = {p.step.name: p.storage for p in status.proxies}
    sides = [(_side(s, results), seconds.get(s.label)) for s in steps.search]
    sides += [(_side(s, results), None) for s in steps.baselines]
    storage.update({s.label: status.train_images for s in steps.baselines})
    truth = _side(steps.truth, results)
    if steps.scorers:  # scorers that do not train: their sides over the study's own candidates
        from analysis.scorers import scorer_side
        from analysis.sides import Ask

        ask = Ask(results, steps.space.name, spec.dataset, truth, candidates=frozenset(c.id for c in steps.candidates))
        sides += [(scorer_side(name, ask), None) for name in steps.scorers]
    study = compare_sides(truth, sides, space=steps.space.name, dataset=spec.dataset,
                          seed=spec.metrics.bootstrap_seed, resamples=spec.metrics.resamples)
    table = paper_table(study, top_k=spec.metrics.top_k, top_fraction=spec.metrics.top_fraction, storage=storage,
                        whole_images=status.train_images)
    from proxynas.study.transfer_steps import study_matrix

    return StudyResults(study, table, study_matrix(steps, results, proxies))
