"""A study: proxies and baselines, each lined up against the ground truth over shared candidates.

A candidate counts in a comparison when both sides trained it; the others are left out and counted.
Accuracies are means over seeds, a failed run counted at chance accuracy on the side where it failed
(:mod:`analysis.seeds`; the failed candidates are counted too). The noise ceiling
(:mod:`analysis.ceiling`) is how well a ranking can agree with a ground truth that is itself a mean
over noisy seeds. docs/metrics.md has the rules.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from analysis.ceiling import ceiling_scores
from analysis.scorers import scorer_side
from analysis.scores import MetricValue, evaluate_tables
from analysis.seeds import mean_of, seed_table
from analysis.sides import Ask, Choice, Side, truth_command
from proxynas.errors import ProxynasError
from proxynas.proxies import ProxyLibrary
from proxynas.scoring import get_scorer
from proxynas.store import ResultsStore
from search_spaces import get_space


@dataclass(frozen=True)
class Cost:
    """Seconds spent to rank the compared candidates, beside what the ground truth spent on them."""

    search_seconds: float  # training the candidates on the proxy (or the short protocol)
    condense_seconds: float | None  # making the proxy file; None when unknown or not needed
    truth_seconds: float

    @property
    def total_seconds(self) -> float:
        return self.search_seconds + (self.condense_seconds or 0.0)

    @property
    def share_of_truth(self) -> float | None:
        return self.total_seconds / self.truth_seconds if self.truth_seconds > 0 else None

    def per_minute(self, value: float | None) -> float | None:
        """A metric's value per minute of total cost: correlation per unit cost."""
        return None if value is None or self.total_seconds <= 0 else value / (self.total_seconds / 60)


@dataclass(frozen=True)
class Comparison:
    label: str
    kind: str  # 'proxy', 'baseline' or 'noise ceiling'
    trainset: str  # '' when nothing was trained (basis 'scored')
    epochs: int | None  # None when nothing was trained
    candidates: tuple[str, ...]  # sorted ids; the arrays below follow this order
    proxy: np.ndarray  # what ranks them on this side, mean over seeds: validation accuracy (fraction), a score
    truth: np.ndarray  # mean validation accuracy of the ground truth
    truth_test: np.ndarray  # mean test accuracy of the ground truth (regret is measured in it)
    dropped: dict[str, int]  # why candidates were left out -> how many
    scores: dict[str, MetricValue]
    cost: Cost | None  # None for the noise ceiling
    failed: dict[str, int]  # where candidates failed ('ranked side', 'ground truth') -> how many, ranked last
    seeds: tuple[int, int] = (1, 1)  # most seeds per candidate on the ranked side and on the ground truth
    trainset_id: str = ""  # the training set by content (proxynas.identity)
    regime: str = ""  # the numeric regime of its rows
    basis: str = "trained"  # what ranked them: 'trained', 'scored' or 'imported' (analysis.sides.Side)


@dataclass(frozen=True)
class Analysis:
    """Every side lined up against one ground truth: what ``compare`` returns (``analysis.Study`` before)."""

    space: str
    dataset: str
    truth: Side
    comparisons: tuple[Comparison, ...]
    ceiling: Comparison | None
    ceiling_note: str  # how the noise ceiling was made, or why there is none
    dimensions: dict[str, tuple[Any, ...]]  # the search space's dimensions and their values, in order
    configs: dict[str, dict[str, Any]]  # candidate id -> its search-space configuration
    seed: int
    resamples: int

    def everything(self) -> tuple[Comparison, ...]:
        """The comparisons, then the noise ceiling when there is one."""
        return self.comparisons + ((self.ceiling,) if self.ceiling else ())


Study = Analysis  # its name before proxynas/study/ (a study file and its run) took the word; kept for users


def _compare_side(side: Side, truth: Side, condense_seconds: float | None, *, dataset: str, seed: int,
                  resamples: int) -> Comparison:
    both = side.candidates() & truth.candidates()
    if not both:
        raise ProxynasError(f"{side.label} and the ground truth share no candidates",
                            "train the ground truth on the searched candidates "
                            "(same --sample, --sample-seed, --where or --arch)")
    missing = f"not scored by {side.label}" if side.basis == "scored" else f"not trained on {side.label}"
    dropped = {missing: len(truth.candidates() - side.candidates()),
               "not in the truth": len(side.candidates() - truth.candidates())}
    ranked, reference = seed_table(side, dataset, both), seed_table(truth, dataset, both)
    failed = {"ranked side": int(ranked.failed.sum()), "ground truth": int(reference.failed.sum())}
    cost = Cost(side.seconds(both), condense_seconds, truth.seconds(both))
    scores = evaluate_tables(ranked, reference, seed=seed, resamples=resamples)
    return Comparison(side.label, side.kind, side.trainset, side.epochs, ranked.candidates, ranked.mean_val(),
                      reference.mean_val(), reference.mean_test(), dropped, scores, cost, failed,
                      (int(ranked.runs().max()), int(reference.runs().max())),
                      side.trainset_id, side.regime, side.basis)


def noise_ceiling(truth: Side, space: str, dataset: str, *, seed: int,
                  resamples: int) -> tuple[Comparison | None, str]:
    """How well a ranking can agree with the truth's seed mean (docs/metrics.md), or None and why not."""
    table = seed_table(truth, dataset)
    if len(table.seeds) < 2:
        return None, (f"none: the ground truth has one seed (`{truth_command(dataset, space, truth.epochs)}"
                      " --seeds 2` on the same candidates adds a second)")
    complete = [c for c, runs in zip(table.candidates, table.runs(), strict=True) if runs == len(table.seeds)]
    if len(complete) < 2:
        return None, f"none: fewer than 2 candidates have every ground-truth seed ({', '.join(map(str, table.seeds))})"
    table = table.take(complete)
    s = len(table.seeds)
    dropped = {f"missing one of seeds {', '.join(map(str, table.seeds))}": len(truth.candidates()) - len(complete)}
    failed = {"ranked side": int(table.failed.sum()), "ground truth": int(table.failed.sum())}
    scores = ceiling_scores(table.val, table.test, seed=seed, resamples=resamples)
    others = slice(1, None)
    ceiling = Comparison(f"noise ceiling ({s} seeds)", "noise ceiling", truth.trainset, truth.epochs,
                         table.candidates, table.val[:, 0], mean_of(table.val[:, others]),
                         mean_of(table.test[:, others], table.val[:, others]), dropped, scores, None, failed, (1, s),
                         truth.trainset_id, truth.regime, truth.basis)
    return ceiling, (f"{s} ground-truth seeds; Spearman and Kendall: the noise-free truth against the {s}-seed "
                     f"mean (Spearman-Brown), an upper bound; other metrics: one seed against the mean of the "
                     f"other {s - 1}, a reference")


def compare(store: ResultsStore, *, dataset: str, proxies: Sequence[str] = (), baselines: Sequence[str] = (),
            space: str = "dc_convnet", truth_epochs: int | None = None, proxy_epochs: int | None = None,
            proxy_store: ProxyLibrary | None = None, seed: int = 0, resamples: int = 1000,
            truth_identity: str | None = None, choice: Choice | None = None) -> Analysis:
    """Line every proxy and baseline up against the ground truth of ``dataset`` and score the rankings.

    Every side is a scorer's (:mod:`proxynas.scoring`): the truth is ``truth``'s, a proxy ``search:NAME``'s,
    a baseline any registered scorer's, named ``NAME`` or ``NAME:ARG`` (``early_stopping:5``, ``synflow``).
    ``dataset`` may be ``DATASET@ID`` and a proxy ``NAME@ID`` (an identity other than the current one,
    :mod:`analysis.sides`). ``proxy_store`` supplies each proxy's current fingerprint and its condensing
    seconds; ``truth_identity`` the training split's fingerprint (None: unknown). ``choice``: the regime.
    ``seed`` drives the bootstrap; ``resamples=0`` skips the intervals.
    """
    if not proxies and not baselines:
        raise ProxynasError("nothing to compare with the ground truth", "name a --proxy or a --baseline")
    choice = Choice() if choice is None else choice
    dataset, _, want = dataset.partition("@")
    ask = Ask(store, space, dataset, choice=choice, identity=truth_identity, want=want or None,
              epochs=truth_epochs, proxy_store=proxy_store)
    truth = get_scorer("truth").side(ask)
    ask = replace(ask, truth=truth, identity=None, want=None, epochs=None)
    sides: list[tuple[Side, float | None]] = []
    for name in proxies:
        side = get_scorer("search").side(replace(ask, arg=name, epochs=proxy_epochs))
        sides.append((side, side.condense_seconds))
    for spec in baselines:
        sides.append((scorer_side(spec, ask), None))
    return compare_sides(truth, sides, space=space, dataset=dataset, seed=seed, resamples=resamples)


def compare_sides(truth: Side, sides: Sequence[tuple[Side, float | None]], *, space: str, dataset: str,
                  seed: int = 0, resamples: int = 1000) -> Analysis:
    """Line each side (with its condensing seconds, or None) up against ``truth`` and score the rankings.

    :func:`compare` picks the sides from the store by name; a study builds them from its exact plans.
    """
    search_space = get_space(space)
    comparisons = [_compare_side(side, truth, condense_seconds, dataset=dataset, seed=seed, resamples=resamples)
                   for side, condense_seconds in sides]
    ceiling, note = noise_ceiling(truth, space, dataset, seed=seed, resamples=resamples)
    ids = set(truth.candidates()).union(*(c.candidates for c in comparisons))
    configs = {c: dict(search_space.parse(c).config) for c in sorted(ids)}
    dimensions = {dim: tuple(values) for dim, values in search_space.dimensions.items()}
    return Analysis(space, dataset, truth, tuple(comparisons), ceiling, note, dimensions, configs,
                 seed, resamples)

