"""A study as text: terminal tables, a tidy CSV (one row per comparison and metric) and JSON."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from analysis.scores import METRICS
from analysis.study import Analysis, Comparison
from proxynas.atomic import atomic_text
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


OVERVIEW_HEADER = ("compared", "kind", "training set", "epochs", "candidates", "failed (ranked last)",
                   "left out")
COST_HEADER = ("compared", "search", "condensing", "total", "ground truth, same candidates",
               "cost vs ground truth", "Spearman ρ per minute")


def failed_text(c: Comparison) -> str:
    """How many compared candidates failed, and where (they count at chance accuracy, ranked last)."""
    if c.kind == "noise ceiling":
        return f"{c.failed['ground truth']} on the ground truth" if c.failed["ground truth"] else "none"
    where = {"ranked side": f"on {c.label}", "ground truth": "on the ground truth"}
    return "; ".join(f"{n} {where[side]}" for side, n in c.failed.items() if n) or "none"


def trained_on(c: Comparison) -> str:
    """The training set cell: the set and its identity, or that nothing was trained (a scorer's scores)."""
    if c.basis == "scored":
        return f"none: scored untrained ({c.regime})"
    return f"{c.trainset} ({short(c.trainset_id)}, {c.regime})"


def overview_rows(study: Analysis) -> list[list[str]]:
    """What was compared: training set, epochs, candidates compared (failed ones among them) and left out."""
    return [[c.label, c.kind, trained_on(c), "-" if c.epochs is None else str(c.epochs),
             str(len(c.candidates)), failed_text(c),
             "; ".join(f"{n} {why}" for why, n in c.dropped.items() if n) or "none"]
            for c in study.everything()]


def truth_candidates_text(study: Analysis) -> str:
    """'24 candidates' or '24 candidates (2 failed, ranked last)': failed ones count, at chance accuracy."""
    truth = study.truth
    failed = len(truth.failed())
    return f"{len(truth.candidates())} candidates" + (f" ({failed} failed, ranked last)" if failed else "")


def interval_note(study: Analysis) -> str:
    """How the intervals were drawn, with the seeds each side brings (seed noise is in only with several)."""
    if study.resamples <= 0:
        return "intervals: none (--resamples 0)"
    seeds = "; ".join(f"{c.label} {c.seeds[0]}" for c in study.comparisons)
    return (f"95% intervals: {study.resamples} half-samples of the candidates (without replacement) and, per "
            f"candidate, its seeds drawn again; bootstrap seed {study.seed}; seeds per candidate: "
            f"ground truth {max((c.seeds[1] for c in study.comparisons), default=1)}"
            + (f"; {seeds}" if seeds else ""))


def cost_rows(study: Analysis) -> list[list[str]]:
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


def overview_table(study: Analysis) -> str:
    return grid(OVERVIEW_HEADER, overview_rows(study))


def metrics_table(study: Analysis) -> str:
    """Metrics down, comparisons across; every value with its 95% interval, or a note saying why not."""
    shown = study.everything()
    rows = [[m.label, *(c.scores[m.name].text(m.digits) for c in shown)] for m in METRICS]
    return "\n".join([grid(["metric (95% interval)", *(c.label for c in shown)], rows), *interval_notes(study)])


def interval_notes(study: Analysis) -> list[str]:
    """One line per reason a defined value has no interval, naming the metrics it applies to."""
    found: dict[str, list[str]] = {}
    for m in METRICS:
        for c in study.everything():
            s = c.scores[m.name]
            if s.value is not None and s.interval is None and s.reason and m.label not in found.get(s.reason, []):
                found.setdefault(s.reason, []).append(m.label)
    return [f"{why.replace('no interval: ', 'no interval for ' + '; '.join(labels) + ': ', 1)}"
            for why, labels in found.items()]


def cost_table(study: Analysis) -> str:
    return grid(COST_HEADER, cost_rows(study))


def render(study: Analysis) -> str:
    """Everything a terminal user needs, as one block of text."""
    truth = study.truth
    head = (f"{study.space} on {study.dataset}: ground truth {truth.trainset} ({short(truth.trainset_id)}, "
            f"regime {truth.regime}), {truth.epochs} epochs, "
            f"{truth_candidates_text(study)}, seeds {', '.join(map(str, truth.seeds()))}\n"
            f"noise ceiling: {study.ceiling_note}\n"
            f"{interval_note(study)}")
    return "\n\n".join([head, overview_table(study), metrics_table(study), cost_table(study)])


def _comparison_dict(c: Comparison) -> dict[str, Any]:
    cost = None
    if c.cost is not None:
        cost = {"search_seconds": c.cost.search_seconds, "condense_seconds": c.cost.condense_seconds,
                "total_seconds": c.cost.total_seconds, "truth_seconds": c.cost.truth_seconds,
                "share_of_truth": c.cost.share_of_truth,
                "spearman_per_minute": c.cost.per_minute(c.scores["spearman"].value)}
    return {"label": c.label, "kind": c.kind, "trainset": c.trainset, "trainset_id": c.trainset_id,
            "regime": c.regime, "epochs": c.epochs, "basis": c.basis,
            "candidates": len(c.candidates), "failed": c.failed, "seeds": {"ranked": c.seeds[0], "truth": c.seeds[1]},
            "dropped": c.dropped, "cost": cost,
            "metrics": {name: score.to_dict() for name, score in c.scores.items()}}


def to_json(study: Analysis) -> dict[str, Any]:
    """A JSON-ready dict. Undefined metrics are ``null`` with a ``reason``, never NaN."""
    truth = study.truth
    return {
        "space": study.space, "dataset": study.dataset,
        "truth": {"trainset": truth.trainset, "trainset_id": truth.trainset_id, "regime": truth.regime,
                  "protocol": truth.protocol, "epochs": truth.epochs,
                  "candidates": len(truth.candidates()), "failed": len(truth.failed()), "seeds": truth.seeds(),
                  "seconds": truth.seconds()},
        "bootstrap": {"resamples": study.resamples, "seed": study.seed, "level": 0.95,
                      "method": "half-samples of the candidates without replacement, seeds drawn again"},
        "metrics": {m.name: {"label": m.label, "higher_is_better": m.higher_is_better} for m in METRICS},
        "comparisons": [_comparison_dict(c) for c in study.comparisons],
        "noise_ceiling": _comparison_dict(study.ceiling) if study.ceiling else None,
        "noise_ceiling_note": study.ceiling_note,
    }


CSV_COLUMNS = ("compared", "kind", "metric", "value", "low", "high", "candidates", "reason")


def write_csv(study: Analysis, path: str | Path) -> Path:
    """One row per (comparison, metric); empty value and a reason where the metric is undefined."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_text(path, what="the metrics table") as f:
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
