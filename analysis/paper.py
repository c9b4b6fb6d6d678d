"""The table the NAS studies of the condensation papers print: one row per proxy and baseline, and the
whole training set last.

Columns: the ground-truth test accuracy of the candidate each ranking puts first (the papers'
"performance"; when several tie for first, their mean: each is an equally likely pick), the candidates
that failed on that side (counted at chance accuracy, ranked last, not dropped), Spearman's rho over
all candidates, over the top fraction and the top k by ground truth,
Kendall's tau, time (condensing plus training to rank, measured: the proxy card's seconds plus the
stored rows' device-seconds, the work done whatever the workers or executor: README, "Cost") and
storage (training images kept). Point values; the intervals are in the report (:mod:`analysis.tables`).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from analysis import metrics
from analysis.metrics import UndefinedMetric
from analysis.seeds import seed_table
from analysis.study import Analysis
from analysis.tables import grid, seconds_text
from proxynas.atomic import atomic_text

WHOLE = "whole training set"


@dataclass(frozen=True)
class PaperRow:
    label: str
    kind: str  # 'proxy', 'baseline' or 'whole'
    candidates: int
    pick: str | None  # the candidate ranked first, or 'N tied' when N share first place
    pick_test_acc: float | None  # its ground-truth test accuracy (fraction); the tied ones' mean
    values: dict[str, float | None]  # column name -> value; None when undefined
    reasons: dict[str, str]  # column name -> why it is undefined
    condense_seconds: float | None
    search_seconds: float
    storage: int | None  # images kept
    failed: int = 0  # candidates that failed on this side (at chance accuracy, ranked last)

    @property
    def seconds(self) -> float:
        return self.search_seconds + (self.condense_seconds or 0.0)


@dataclass(frozen=True)
class PaperTable:
    space: str
    dataset: str
    truth_epochs: int
    columns: tuple[tuple[str, str], ...]  # (name, heading) of the correlation columns, in order
    rows: tuple[PaperRow, ...]


def correlation_columns(top_k: Sequence[int], top_fraction: float) -> list[tuple[str, str, Callable]]:
    """(name, heading, metric of (ranking, truth)) for every correlation the table shows."""
    frac = f"{100 * top_fraction:g}%"
    out: list[tuple[str, str, Callable]] = [
        ("spearman", "Spearman", metrics.spearman),
        (f"spearman@top{frac}", f"top {frac}",
         lambda p, t: metrics.top_fraction_spearman(p, t, top_fraction))]
    out += [(f"spearman@top{k}", f"top {k}", lambda p, t, k=k: metrics.top_k_spearman(p, t, k)) for k in top_k]
    out.append(("kendall", "Kendall", metrics.kendall))
    return out


def _row(label: str, kind: str, ids: Sequence[str], ranking: np.ndarray, truth: np.ndarray,
         truth_test: np.ndarray, columns: list[tuple[str, str, Callable]], *, condense: float | None,
         search: float, storage: int | None, failed: int) -> PaperRow:
    values: dict[str, float | None] = {}
    reasons: dict[str, str] = {}
    for name, _, compute in columns:
        try:
            values[name] = float(compute(ranking, truth))
        except UndefinedMetric as why:
            values[name], reasons[name] = None, str(why)
    pick, acc = None, None
    if len(ids):
        first = metrics.top_group(ranking)
        pick = ids[int(first[0])] if len(first) == 1 else f"{len(first)} tied"
        acc = float(np.mean(truth_test[first]))
        acc = None if math.isnan(acc) else acc
    return PaperRow(label, kind, len(ids), pick, acc, values, reasons, condense, search, storage, failed)


def paper_table(study: Analysis, *, top_k: Sequence[int], top_fraction: float, storage: Mapping[str, int | None],
                whole_images: int | None) -> PaperTable:
    """The table of ``study``; ``storage`` maps each compared label to its images, ``whole_images`` is the
    training split's size."""
    columns = correlation_columns(top_k, top_fraction)
    rows = []
    for c in study.comparisons:
        cost = c.cost
        assert cost is not None
        rows.append(_row(c.label, c.kind, c.candidates, c.proxy, c.truth, c.truth_test, columns,
                         condense=cost.condense_seconds, search=cost.search_seconds, storage=storage.get(c.label),
                         failed=c.failed["ranked side"]))
    truth = study.truth
    runs = seed_table(truth, study.dataset)
    ids, t_val, t_test = runs.candidates, runs.mean_val(), runs.mean_test()
    rows.append(_row(WHOLE, "whole", ids, t_val, t_val, t_test, columns, condense=None,
                     search=truth.seconds(set(ids)), storage=whole_images, failed=int(runs.failed.sum())))
    return PaperTable(study.space, study.dataset, truth.epochs, tuple((n, h) for n, h, _ in columns), tuple(rows))


def _number(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def paper_cells(table: PaperTable) -> tuple[list[str], list[list[str]], list[str]]:
    """(header, rows of text, notes on the undefined values) for terminals and web pages alike."""
    header = ["", "performance (%)", "failed", *(h for _, h in table.columns), "time", "storage (images)"]
    rows = []
    for r in table.rows:
        perf = "n/a" if r.pick_test_acc is None else f"{100 * r.pick_test_acc:.1f}"
        rows.append([r.label, perf, str(r.failed), *(_number(r.values[n]) for n, _ in table.columns),
                     seconds_text(r.seconds),
                     "-" if r.storage is None else f"{r.storage:,}"])
    notes = sorted({f"{h}: {r.reasons[n]}" for r in table.rows for n, h in table.columns if n in r.reasons})
    return header, rows, notes


def caption(table: PaperTable) -> str:
    return (f"{table.space} on {table.dataset}: performance = ground-truth test accuracy ({table.truth_epochs} "
            "epochs on the whole training set) of the candidate each ranking puts first (the mean of those tied "
            "for first); failed = candidates whose training failed on that side, counted at chance accuracy "
            "(ranked last); Spearman over all candidates and over the top ones by ground truth; "
            "time = condensing + training to rank (measured device-seconds)")


def render_paper(table: PaperTable) -> str:
    """The table as text, with a line over it saying what the columns are."""
    header, rows, notes = paper_cells(table)
    return "\n".join([caption(table), grid(header, rows), *(f"n/a: {n}" for n in notes)])


def row_dict(r: PaperRow) -> dict[str, Any]:
    return {"label": r.label, "kind": r.kind, "candidates": r.candidates, "failed": r.failed, "pick": r.pick,
            "pick_test_acc": r.pick_test_acc, **r.values, "undefined": r.reasons,
            "condense_seconds": r.condense_seconds, "search_seconds": r.search_seconds, "seconds": r.seconds,
            "storage_images": r.storage}


def paper_json(table: PaperTable) -> dict[str, Any]:
    return {"space": table.space, "dataset": table.dataset, "truth_epochs": table.truth_epochs,
            "columns": [n for n, _ in table.columns], "rows": [row_dict(r) for r in table.rows]}


def write_paper_csv(table: PaperTable, path: str | Path) -> Path:
    """One row per proxy, baseline and the whole set; an undefined value is an empty cell."""
    path = Path(path)
    names = [n for n, _ in table.columns]
    header = ["compared", "kind", "candidates", "failed", "pick", "pick_test_acc", *names, "condense_seconds",
              "search_seconds", "seconds", "storage_images"]
    with atomic_text(path, what="the table") as f:
        out = csv.writer(f)
        out.writerow(header)
        for r in table.rows:
            d = row_dict(r)
            out.writerow(["" if d.get(k) is None else d[k] for k in
                          ["label", *header[1:]]])
    return path
