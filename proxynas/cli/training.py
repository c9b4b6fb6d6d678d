"""The part ``search`` and ``truth`` share: train a plan with a progress bar, then rank and print."""

from __future__ import annotations

import json
import statistics
import sys
import time
from dataclasses import dataclass

from proxynas.cli.progress import bar
from proxynas.engine import Outcome
from proxynas.engine.executors import ExecutorOptions, make_executor, options_for
from proxynas.identity import short
from proxynas.plans import Plan, TrainingData, pending, plan_rows, train_into_store, with_regime
from proxynas.store import ResultRow, ResultsStore


@dataclass(frozen=True)
class Ranked:
    """One candidate's results over its seeds."""

    candidate: str
    status: str
    val_acc: float | None
    test_acc: float | None
    seeds: int
    seconds: float
    reason: str | None = None


def rank(rows: list[ResultRow]) -> list[Ranked]:
    """Candidates by mean validation accuracy, best first; any failed seed fails the candidate."""
    by_candidate: dict[str, list[ResultRow]] = {}
    for row in rows:
        by_candidate.setdefault(row.candidate, []).append(row)
    ranked = []
    for cand, group in by_candidate.items():
        failed = [r for r in group if r.status != "done"]
        seconds = sum(r.seconds for r in group)
        if failed:
            ranked.append(Ranked(cand, "failed", None, None, len(group), seconds, failed[0].reason))
        else:
            ranked.append(Ranked(cand, "done", statistics.fmean(r.val_acc for r in group),
                                 statistics.fmean(r.test_acc for r in group), len(group), seconds))
    return sorted(ranked, key=lambda r: (r.status != "done", -(r.val_acc or 0.0), r.candidate))


def execute(plan: Plan, store: ResultsStore, data: TrainingData, executor: ExecutorOptions, *,
            max_models: int | None, fresh: bool, quiet: bool = False, command: str = "train") -> list[Ranked]:
    """Train what is not in the store yet (with a progress bar), then return the plan's ranking.

    The bar shows candidates done / total, throughput and ETA; with an executor that tells how many
    stacks are training (ray), also the running tasks.
    """
    runner = make_executor(executor)
    plan = with_regime(plan, runner, data, None)
    jobs = plan.jobs()
    todo = len(pending(plan, store, fresh=fresh))
    if not quiet:
        print(f"{plan.trainset} ({short(plan.identity())}, {plan.regime}): {len(plan.candidates)} candidates x "
              f"{plan.seeds} seed(s), {plan.protocol.epochs} epochs on {len(data.train)} images, "
              f"{describe_executor(executor)}; "
              f"{len(jobs) - todo} already in the store, {todo} to train", file=sys.stderr)
    spent = [0.0]

    def arrived(outcome: Outcome) -> None:
        spent[0] += outcome.seconds
        progress.update(1)

    start = time.perf_counter()
    with bar(total=todo, desc=plan.trainset, unit="cand") as progress:
        runner.on_running = lambda running: progress.set_postfix_str(f"{running} running")
        trained = train_into_store(plan, store, data, executor=runner, max_models=max_models, fresh=fresh,
                                   on_outcome=arrived, command=command)
    if trained and not quiet:
        print(f"trained {len(trained)} in {time.perf_counter() - start:.1f} s wall, {spent[0]:.1f} device-seconds",
              file=sys.stderr)
    return rank(plan_rows(store, plan))


def describe_executor(options: ExecutorOptions) -> str:
    return options_for(options).describe()


def print_ranking(ranked: list[Ranked], top: int, *, header: str) -> None:
    done = [r for r in ranked if r.status == "done"]
    failed = [r for r in ranked if r.status != "done"]
    print(header)
    width = max([36, *(len(r.candidate) for r in done[:top])])
    print(f"{'rank':>4}  {'candidate':<{width}} {'val acc':>8} {'test acc':>8} {'seeds':>5} {'device s':>8}")
    for i, r in enumerate(done[:top], 1):
        print(f"{i:>4}  {r.candidate:<{width}} {100 * r.val_acc:>7.2f}% {100 * r.test_acc:>7.2f}% "
              f"{r.seeds:>5} {r.seconds:>8.1f}")
    if len(done) > top:
        print(f"      ... {len(done) - top} more (--top N shows more)")
    for r in failed:
        print(f"failed  {r.candidate}: {r.reason}")


def print_json(ranked: list[Ranked], **context: object) -> None:
    results = [{"rank": i, **vars(r)} for i, r in enumerate(ranked, 1)]
    print(json.dumps({**context, "results": results}, indent=2))
