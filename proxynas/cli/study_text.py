"""How ``proxynas study`` (and the demo) show a study: the plan as a table, progress bars while it runs."""

from __future__ import annotations

import sys
import time

from condensed.registry import METHODS
from proxynas.cli.progress import bar
from proxynas.study import StudyStatus
from proxynas.study.estimate import Throughput, duration
from proxynas.study.state import ProxyState, TrainState
from proxynas.study.status import estimate


def _grid(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _proxy_row(i: int, p: ProxyState) -> list[str]:
    spec = p.step.proxy
    if spec.imported:
        what = "an imported set"
    else:
        settings = ", ".join(f"{k}={v}" for k, v in spec.settings.items())
        what = f"{spec.method}, {spec.ipc} per class, seed {spec.seed}" + (f", {settings}" if settings else "")
    stored = {"done": "done", "imported": "done (imported)", "missing": "to make", "continue": "to continue",
              "differs": "DIFFERS", "no import": "MISSING"}[p.status]
    coreset = spec.method in METHODS and METHODS.get(spec.method).kind == "coreset"  # picks: seconds
    cost = "-" if p.ready else ("< 1 min" if coreset else "?")
    return [str(i), p.step.label, what, stored, cost]


def _train_row(i: int, t: TrainState, rate: Throughput | None) -> list[str]:
    plan = t.step.plan
    images = "?" if t.images is None else f"{t.images:,}"
    what = f"{len(plan.candidates)} cand x {plan.seeds} seed x {plan.protocol.epochs} ep x {images} img"
    stored = "done" if t.todo == 0 else f"{t.done}/{t.total}"
    if t.stale:
        stored += f" ({len(t.stale)} stale)"
    seconds = None if rate is None else estimate(t, rate)
    cost = "-" if t.todo == 0 else ("~" + duration(seconds) if seconds is not None else "?")
    return [str(i), t.step.title, what, stored, cost]


def render_plan(status: StudyStatus, rate: Throughput | None) -> str:
    spec, steps = status.steps.spec, status.steps
    head = [f"study {spec.name}: {steps.space.name} on {spec.dataset}, {len(steps.candidates)} candidates"
            + (f" — {spec.title}" if spec.title else "")]
    if spec.source:
        head.append(f"source: {spec.source}")
    rows = [["#", "step (dependency order)", "trains", "in the store", "estimate"]]
    i = 0
    for p in status.proxies:
        i += 1
        rows.append(_proxy_row(i, p))
    for t in status.training:
        i += 1
        rows.append(_train_row(i, t, rate))
    for name in steps.scorers:
        i += 1
        rows.append([str(i), f"score {name}", "no: one score per candidate", "see `proxynas score`", "-"])
    rows.append([str(i + 1), "analysis", f"table, plots and report in {spec.output}",
                 "ready" if status.complete() else "after the steps above", "-"])
    lines = [*head, "", _grid(rows), ""]
    notes = [f"{p.step.label}: {p.note}" for p in status.proxies if p.note]
    if status.data_problem:
        notes.append(f"dataset: {status.data_problem}")
    lines += [f"note: {n}" for n in notes]
    left = [estimate(t, rate) if rate else None for t in status.training if t.todo]
    jobs = sum(t.todo for t in status.training)
    if not jobs:
        lines.append("training: everything is in the store")
    else:
        total = "?" if any(s is None for s in left) else "~" + duration(sum(s for s in left if s is not None))
        lines.append(f"training still to do: {jobs} candidate runs, {total} in all: an ESTIMATE, not a promise")
        if rate is not None:
            lines.append(f"  from {1e6 * rate.seconds_per_unit:.2f} µs per candidate-epoch-image ({rate.source}); "
                         "candidates differ a lot in cost, and a step with stored rows uses their mean instead")
        lines.append("  condensing a synthetic proxy (dc, dsa, dm, idc) is not estimated ('?')")
    return "\n".join(lines)


class ConsoleReporter:
    """Progress on stderr: a line per step (for logs) and, on a terminal, an overall and a step bar."""

    def __init__(self) -> None:
        self.overall = None
        self.current = None
        self.steps = 0
        self.started = time.perf_counter()

    def begin(self, total_jobs: int, steps: int) -> None:
        self.steps = steps
        say(f"study: {steps} steps, {total_jobs} candidate runs to train")
        self.overall = bar(total=total_jobs, desc="study", unit="cand")

    def step(self, index: int, title: str, detail: str, total: int, done: int, unit: str) -> None:
        left = total - done
        verb = {"cand": "train", "score": "score"}.get(unit)
        say(f"[{index}/{self.steps}] {title}: {detail}" + (f"; {done} already in the store, {left} to {verb}"
                                                           if verb else ""))
        self.current = bar(total=total, desc=title[:40], unit=unit)
        self.current.update(done)

    def advance(self, done: int, total: int | None = None, jobs: int = 0) -> None:
        if self.current is not None:
            if total is not None:
                self.current.total = total
            self.current.update(done - self.current.n)
        if jobs and self.overall is not None:
            self.overall.update(jobs)

    def end_step(self) -> None:
        if self.current is not None:
            self.current.close()
            self.current = None

    def close(self) -> None:
        self.end_step()
        if self.overall is not None:
            self.overall.close()
        say(f"study steps finished in {time.perf_counter() - self.started:.0f} s")


def say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
