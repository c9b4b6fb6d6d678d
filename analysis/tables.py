"""A study as text: terminal tables, a tidy CSV (one row per comparison and metric) and JSON."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from analysis.scores import METRICS
from analysis.study import Comparison, Study
from proxynas.identity import short


def grid(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns separated by two spaces, with a rule under the header."""
    table = [list(map(str, header)), *(list(map(str, row)) for row in rows)]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in table]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def seconds_text(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


OVERVIEW_HEADER = ("compared", "kind", "training set", "epochs", "candidates", "left out")
COST_HEADER = ("compared", "search", "condensing", "total", "ground truth, same candidates",
               "cost vs ground truth", "Spearman ρ per minute")


def overview_rows(study: Study) -> list[list[str]]:
    """What was compared: training set, epochs, candidates kept and left out."""
    return [[c.label, c.kind, f"{c.trainset} ({short(c.trainset_id)}, {c.regime})", str(c.epochs),
             str(len(c.candidates)),
             "; ".join(f"{n} {why}" for why, n in c.dropped.items() if n) or "none"]
            for c in study.everything()]


def cost_rows(study: Study) -> list[list[str]]:
    """Seconds to rank the compared candidates, the ground truth's on the same ones, rho per minute."""
    rows = []
    for c in study.comparisons:
        cost = c.cost
        share, per_minute = cost.share_of_truth, cost.per_minute(c.scores["spearman"].value)
        rows.append([c.label, seconds_text(cost.search_seconds), seconds_text(cost.condense_seconds),
                     seconds_text(cost.total_seconds), seconds_text(cost.truth_seconds),
                     "-" if share is None else f"{100 * share:.1f}%",
                     "-" if per_minute is None else f"{per_minute:.3g}"])
    return rows


def overview_table(study: Study) -> str:
    return grid(OVERVIEW_HEADER, overview_rows(study))


def metrics_table(study: Study) -> str:
    """Metrics down, comparisons across; every value with its 95% bootstrap interval."""
    shown = study.everything()
    rows = [[m.label, *(c.scores[m.name].text(m.digits) for c in shown)] for m in METRICS]
    return grid(["metric (95% interval)", *(c.label for c in shown)], rows)


def cost_table(study: Study) -> str:
    return grid(COST_HEADER, cost_rows(study))


def render(study: Study) -> str:
    """Everything a terminal user needs, as one block of text."""
    truth = study.truth
    head = (f"{study.space} on {study.dataset}: ground truth {truth.trainset} ({short(truth.trainset_id)}, "
            f"regime {truth.regime}), {truth.epochs} epochs, "
            f"{len(truth.done())} candidates, seeds {', '.join(map(str, truth.seeds()))}\n"
            f"noise ceiling: {study.ceiling_note}\n"
            f"intervals: bootstrap over candidates, {study.resamples} resamples, seed {study.seed}")
    return "\n\n".join([head, overview_table(study), metrics_table(study), cost_table(study)])


def _comparison_dict(c: Comparison) -> dict[str, Any]:
    cost = None
    if c.cost is not None:
        cost = {"search_seconds": c.cost.search_seconds, "condense_seconds": c.cost.condense_seconds,
                "total_seconds": c.cost.total_seconds, "truth_seconds": c.cost.truth_seconds,
                "share_of_truth": c.cost.share_of_truth,
                "spearman_per_minute": c.cost.per_minute(c.scores["spearman"].value)}
    return {"label": c.label, "kind": c.kind, "trainset": c.trainset, "trainset_id": c.trainset_id,
            "regime": c.regime, "epochs": c.epochs,
            "candidates": len(c.candidates), "dropped": c.dropped, "cost": cost,
            "metrics": {name: score.to_dict() for name, score in c.scores.items()}}


def to_json(study: Study) -> dict[str, Any]:
    """A JSON-ready dict. Undefined metrics are ``null`` with a ``reason``, never NaN."""
    truth = study.truth
    return {
        "space": study.space, "dataset": study.dataset,
        "truth": {"trainset": truth.trainset, "trainset_id": truth.trainset_id, "regime": truth.regime,
                  "protocol": truth.protocol, "epochs": truth.epochs,
                  "candidates": len(truth.done()), "seeds": truth.seeds(), "seconds": truth.seconds()},
        "bootstrap": {"resamples": study.resamples, "seed": study.seed, "level": 0.95},
        "metrics": {m.name: {"label": m.label, "higher_is_better": m.higher_is_better} for m in METRICS},
        "comparisons": [_comparison_dict(c) for c in study.comparisons],
        "noise_ceiling": _comparison_dict(study.ceiling) if study.ceiling else None,
        "noise_ceiling_note": study.ceiling_note,
    }


CSV_COLUMNS = ("compared", "kind", "metric", "value", "low", "high", "candidates", "reason")


def write_csv(study: Study, path: str | Path) -> Path:
    """One row per (comparison, metric); empty value and a reason where the metric is undefined."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        out = csv.writer(f)
        out.writerow(CSV_COLUMNS)
        for c in study.everything():
            for m in METRICS:
                s = c.scores[m.name]
                iv = s.interval
                out.writerow([c.label, c.kind, m.name, "" if s.value is None else s.value,
                              "" if iv is None else iv.low, "" if iv is None else iv.high,
                              len(c.candidates), s.reason or ""])
    return path
