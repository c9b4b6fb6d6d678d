"""A study as one self-contained HTML page: what was compared, metrics with intervals, cost, plots.

The page has no outside references: the plots are embedded as base64 PNG, the style is inline.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from pathlib import Path

from matplotlib.figure import Figure

from analysis import plots
from analysis.paper import PaperTable, caption, paper_cells
from analysis.scores import METRICS, TOP_FRACTION, Metric
from analysis.study import Analysis, Comparison
from analysis.tables import (
    COST_HEADER,
    OVERVIEW_HEADER,
    cost_rows,
    interval_note,
    interval_notes,
    overview_rows,
    truth_candidates_text,
)
from proxynas.atomic import atomic_write_text
from proxynas.identity import short

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1200px; margin: 2em auto; padding: 0 1em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.92em; }
th, td { border-bottom: 1px solid #ddd; padding: 0.35em 0.8em; text-align: left; }
th { background: #f3f3f3; }
td.best { font-weight: bold; }
td.undefined { color: #888; font-style: italic; }
figure { margin: 2em 0; }
figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { color: #555; font-size: 0.9em; }
.note { color: #555; font-size: 0.9em; }
"""

CAPTIONS = {
    "accuracy_scatter": "Each point is one candidate: its mean validation accuracy on the proxy against the "
                        "ground truth. A good proxy needs the same order, not the same accuracy.",
    "rank_scatter": "The same candidates by rank (1 = best). Points on the diagonal are ranked alike.",
    "metric_heatmap": "Every rank-agreement metric for every proxy and baseline; 1 is perfect agreement.",
    "precision_curves": "How much of the true top k each ranking finds in its own top k, for every k.",
    "dimension_effects": "Mean accuracy per value of each search-space dimension: a proxy should show the "
                         "ground truth's trends.",
}

DEFINITIONS = [
    ("Spearman ρ, Kendall τ", "scipy's rank correlations over the compared candidates; ties get average "
                              "ranks (τ is tau-b). A constant ranking has no correlation: 'undefined', "
                              "saying on which side."),
    ("failed candidates", "a run that failed counts at chance accuracy (1 / classes) on the side where it "
                          "failed, so a candidate whose every run failed is ranked last; they are counted "
                          "in the overview, never dropped."),
    ("top k by truth", f"the correlation over the k best candidates by ground truth (k = 5, 10, 20, 30 and "
                       f"the top {TOP_FRACTION:.0%}, rounded up), every candidate tied with the k-th "
                       f"included; undefined for k = 1 (a correlation needs two)."),
    ("Precision@k", "the share of the proxy's top k that is in the ground truth's top k. Candidates tied "
                    "at the boundary of a top k share its last places: the value is the expected one over "
                    "random tie-breaks, never decided by names."),
    ("Best true rank in proxy's top k", "the best ground-truth rank among the proxy's k favourites "
                                        "(1 = the shortlist holds a best candidate), expected over ties."),
    ("Regret", "ground-truth test accuracy of the best candidate minus that of the proxy's pick (the mean "
               "of its tied favourites), in percentage points."),
    ("n/a", "a metric at k needs at least k candidates; with fewer it is undefined, not computed on fewer."),
    ("intervals", "95%: half-samples of the candidates drawn without replacement (no candidate twice) "
                  "and, per candidate, its seeds drawn again with replacement, so seed noise is in when a "
                  "side has several seeds; the percentile interval is moved to centre on the estimate."),
    ("noise ceiling", "Spearman and Kendall: what the noise-free ground truth would score against the "
                      "mean of its seeds (Spearman-Brown), an upper bound for any ranking; other metrics: "
                      "one ground-truth seed against the mean of the others."),
]


def _table(header: Sequence[str], rows: Sequence[Sequence[str | tuple[str, str]]]) -> str:
    """Cells are text, or (text, css class)."""
    def cell(c: str | tuple[str, str]) -> str:
        text, cls = (c, "") if isinstance(c, str) else c
        return f'<td class="{cls}">{html.escape(text)}</td>' if cls else f"<td>{html.escape(text)}</td>"

    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(cell(c) for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _best(m: Metric, comparisons: Sequence[Comparison]) -> float | None:
    values = [c.scores[m.name].value for c in comparisons if c.scores[m.name].value is not None]
    if not values:
        return None
    return max(values) if m.higher_is_better else min(values)


def metrics_html(study: Analysis) -> str:
    shown = study.everything()
    rows = []
    for m in METRICS:
        best = _best(m, study.comparisons) if len(study.comparisons) > 1 else None
        row: list[str | tuple[str, str]] = [m.label]
        for c in shown:
            score = c.scores[m.name]
            cls = "undefined" if score.value is None else \
                "best" if score.value == best and c.kind != "noise ceiling" else ""
            row.append((score.text(m.digits), cls))
        rows.append(row)
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in interval_notes(study))
    return _table(["metric (95% interval)", *(c.label for c in shown)], rows) + \
        (f'<ul class="note">{notes}</ul>' if notes else "")


def overview_html(study: Analysis) -> str:
    return _table(OVERVIEW_HEADER, overview_rows(study))


def cost_html(study: Analysis) -> str:
    return _table(COST_HEADER, cost_rows(study))


def _png(fig: Figure) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def paper_html(table: PaperTable | None) -> str:
    """The papers' table (one row per proxy and baseline, the whole training set last), if there is one."""
    if table is None:
        return ""
    header, rows, notes = paper_cells(table)
    notes_html = "".join(f"<li>n/a: {html.escape(n)}</li>" for n in notes)
    return (f"<h2>The papers' table</h2><p class=\"note\">{html.escape(caption(table))}.</p>"
            f"{_table(header, rows)}" + (f"<ul class=\"note\">{notes_html}</ul>" if notes else ""))


def render_html(study: Analysis, table: PaperTable | None = None, extra: str = "") -> str:
    """The page; ``extra`` is HTML placed before the plots (a study's cross-architecture matrix)."""
    truth = study.truth
    settings = ", ".join(f"{k} {v}" for k, v in sorted(truth.settings.items())) or "unknown"
    figures = "".join(
        f'<figure><img alt="{name}" src="data:image/png;base64,{_png(fig)}">'
        f"<figcaption>{html.escape(CAPTIONS.get(name, ''))}</figcaption></figure>"
        for name, fig in plots.figures(study).items())
    definitions = "".join(f"<li><b>{html.escape(t)}</b>: {html.escape(d)}</li>" for t, d in DEFINITIONS)
    title = f"proxynas study: {study.space} on {study.dataset}"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>{STYLE}</style></head><body>
<h1>{html.escape(title)}</h1>
<p class="note">{html.escape(interval_note(study))}.</p>
<h2>What was compared</h2>
<p>Ground truth: every candidate trained on the full training split of {html.escape(study.dataset)}
({html.escape(truth.trainset)}, {html.escape(short(truth.trainset_id))}, regime {html.escape(truth.regime)}),
{truth.epochs} epochs, {html.escape(truth_candidates_text(study))}, seeds
{html.escape(", ".join(map(str, truth.seeds())))}; protocol: {html.escape(settings)}.
Candidates are ranked by mean validation accuracy over seeds.</p>
<p>Noise ceiling: {html.escape(study.ceiling_note)}.</p>
{overview_html(study)}
{paper_html(table)}
<h2>Metrics</h2>
<p class="note">Best proxy or baseline per metric in bold.</p>
{metrics_html(study)}
<h2>Cost</h2>
<p class="note">Seconds of training (and of condensing the proxy, where its file is on hand) to rank the
compared candidates, beside what the ground truth spent on the same candidates.</p>
{cost_html(study)}
{extra}
<h2>Plots</h2>
{figures}
<h2>Definitions</h2>
<ul>{definitions}</ul>
</body></html>
"""


def write_report(study: Analysis, path: str | Path, *, table: PaperTable | None = None, extra: str = "") -> Path:
    """Write the study's HTML page to ``path`` and return it; ``table`` adds the papers' table, ``extra``
    HTML before the plots."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, render_html(study, table, extra), what="the report")
    return path
