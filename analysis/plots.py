"""A study as pictures: seaborn on matplotlib's Agg canvas (no pyplot, no global style changes).

``figures(study)`` builds every figure; ``save_all(study, folder)`` writes each as PNG and PDF.
Accuracies are shown in percent; ranks count from 1 = best. Every figure's text fits its canvas
(:func:`fit_text`): a title or label wider than the room it has is wrapped, or at last made smaller.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.text import Text
from matplotlib.ticker import NullLocator

from analysis import metrics
from analysis.scores import METRICS
from analysis.study import Analysis, Comparison
from proxynas.atomic import atomic_write

TRUTH_COLOR = "black"
CEILING_COLOR = "0.55"


def _figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), layout="constrained", dpi=100)
    FigureCanvasAgg(fig)
    return fig


def colors(study: Analysis) -> dict[str, object]:
    """One colour per comparison, the same in every figure; the noise ceiling is grey."""
    palette = sns.color_palette("colorblind", max(len(study.comparisons), 1))
    out: dict[str, object] = {c.label: palette[i] for i, c in enumerate(study.comparisons)}
    if study.ceiling:
        out[study.ceiling.label] = CEILING_COLOR
    return out


def _spearman_title(c: Comparison) -> str:
    return f"{c.label}\nSpearman ρ = {c.scores['spearman'].text(2)}, n = {len(c.candidates)}"


def _panels(study: Analysis, width: float = 4.6) -> tuple[Figure, list]:
    shown = study.everything()
    cols = min(3, len(shown))
    rows = math.ceil(len(shown) / cols)
    fig = _figure(width * cols, width * rows * 0.95)
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
    for ax in axes[len(shown):]:
        ax.set_visible(False)
    return fig, list(axes[:len(shown)])


def accuracy_scatter(study: Analysis) -> Figure:
    """Each candidate's accuracy on the proxy against its ground-truth accuracy."""
    fig, axes = _panels(study)
    palette = colors(study)
    for ax, c in zip(axes, study.everything(), strict=True):
        scored = c.basis == "scored"  # a score, not an accuracy: drawn as it is
        sns.scatterplot(x=100 * c.truth, y=c.proxy if scored else 100 * c.proxy, ax=ax, color=palette[c.label],
                        s=28, edgecolor="white", linewidth=0.4, label="one candidate (mean over seeds)")
        ax.set(title=_spearman_title(c), xlabel="ground truth validation accuracy (%)",
               ylabel=f"{_side_name(c)} score (untrained)" if scored else
               f"{_side_name(c)} validation accuracy (%)")
        ax.legend(loc="best", fontsize="small")
    fig.suptitle(f"Proxy vs ground-truth accuracy ({study.space} on {study.dataset})", weight="bold")
    return fig


def rank_scatter(study: Analysis) -> Figure:
    """Each candidate's rank on the proxy against its true rank; the diagonal is perfect agreement."""
    fig, axes = _panels(study)
    palette = colors(study)
    for ax, c in zip(axes, study.everything(), strict=True):
        n = len(c.candidates)
        ax.plot([1, n], [1, n], ls="--", color="0.4", lw=1, label="perfect agreement")
        sns.scatterplot(x=metrics.true_ranks(c.truth), y=metrics.true_ranks(c.proxy), ax=ax, s=28,
                        color=palette[c.label], edgecolor="white", linewidth=0.4, label="one candidate")
        ax.set(title=_spearman_title(c), xlabel="true rank (1 = best)", ylabel=f"rank by {_side_name(c)}")
        ax.legend(loc="best", fontsize="small")
    fig.suptitle(f"Rank agreement ({study.space} on {study.dataset})", weight="bold")
    return fig


def metric_heatmap(study: Analysis) -> Figure:
    """Comparisons x rank-agreement metrics; grey cells are undefined (see the tables for why)."""
    shown = study.everything()
    chosen = [m for m in METRICS if m.correlation_like]
    cells = [[c.scores[m.name].value for m in chosen] for c in shown]
    values = pd.DataFrame([[np.nan if v is None else v for v in row] for row in cells],
                          index=[c.label for c in shown], columns=[m.name for m in chosen])
    fig = _figure(1.0 * len(chosen) + 3.5, 0.6 * len(shown) + 3.2)
    ax = fig.subplots()
    ax.set_facecolor("0.88")
    ax.grid(False)
    sns.heatmap(values, ax=ax, vmin=-1, vmax=1, cmap="RdBu", annot=True, fmt=".2f",
                linewidths=0.5, cbar_kws={"label": "value (1 = perfect agreement)"})
    for (row, col), value in np.ndenumerate(values.to_numpy()):
        if np.isnan(value):
            ax.text(col + 0.5, row + 0.5, "n/a", ha="center", va="center", color="0.3", fontsize="small")
    ax.set(title=f"How well each ranking agrees with the ground truth ({study.dataset})",
           xlabel="metric (ρ: Spearman, τ: Kendall, precision: shared top-k share)", ylabel="")
    ax.tick_params(axis="x", rotation=40)
    ax.tick_params(axis="y", rotation=0)
    for label in ax.get_xticklabels():
        label.set_horizontalalignment("right")
    return fig


def precision_curves(study: Analysis) -> Figure:
    """precision@k for every k: the share of the true top k that each ranking puts in its own top k."""
    fig = _figure(7.5, 5)
    ax = fig.subplots()
    palette = colors(study)
    n_max = 1
    for c in study.everything():
        n = len(c.candidates)
        if n == 0:
            continue
        n_max = max(n_max, n)
        ks = np.arange(1, n + 1)
        ax.plot(ks, [metrics.precision_at_k(c.proxy, c.truth, k) for k in ks], color=palette[c.label],
                ls="--" if c.kind == "noise ceiling" else "-", lw=1.8, label=c.label)
    ks = np.arange(1, n_max + 1)
    ax.plot(ks, ks / n_max, ls=":", color="0.5", label="random ranking (k / n)")
    ax.set(title=f"Precision@k against the ground truth ({study.dataset})",
           xlabel="k (size of the top-k sets)", ylabel="precision@k (share of the true top k found)",
           ylim=(-0.02, 1.02), xlim=(1, n_max))
    if n_max > 10:
        ax.set_xscale("log")
        ticks = [t for t in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000) if t <= n_max]
        ax.set_xticks(ticks, labels=[str(t) for t in ticks])
        ax.xaxis.set_minor_locator(NullLocator())
    ax.legend(loc="lower right", fontsize="small")
    return fig


def dimension_effects(study: Analysis) -> Figure:
    """Mean accuracy for each value of each search-space dimension, on the ground truth and every proxy."""
    frame = _accuracy_frame(study)
    dims = list(study.dimensions)
    cols = 3
    rows = max(1, math.ceil((len(dims) + 1) / cols))
    fig = _figure(5 * cols, 4 * rows)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    palette = {"ground truth": TRUTH_COLOR, **colors(study)}
    order = [s for s in palette if s in set(frame["side"])]
    for ax, dim in zip(axes, dims, strict=False):
        sns.pointplot(frame, x=dim, y="accuracy", hue="side", hue_order=order, palette=palette, ax=ax,
                      errorbar="se", dodge=0.3 if len(order) > 1 else False, markersize=5, linewidth=1.5, legend=False,
                      order=[v for v in study.dimensions[dim] if v in set(frame[dim])])
        ax.set(title=f"effect of {dim}", xlabel=dim, ylabel="mean validation accuracy (%)")
        if max(len(str(v)) for v in study.dimensions[dim]) > 7:
            ax.tick_params(axis="x", rotation=20)
    legend_ax = axes[len(dims)]
    legend_ax.axis("off")
    for side in order:
        legend_ax.plot([], [], marker="o", color=palette[side], label=side)
    legend_ax.legend(loc="center", title="trained on (mean ± s.e.)", frameon=False)
    for ax in axes[len(dims) + 1:]:
        ax.set_visible(False)
    fig.suptitle(f"Effect of each search-space dimension ({study.space} on {study.dataset})", weight="bold")
    return fig


def _side_name(c: Comparison) -> str:
    return "other seed" if c.kind == "noise ceiling" else c.label


def _accuracy_frame(study: Analysis) -> pd.DataFrame:
    """One row per (side, candidate): accuracy in percent plus the candidate's dimension values. Scores of
    untrained networks (basis 'scored') are no accuracies: left out (they are in the other plots)."""
    records = [("ground truth", c, 100 * v) for c, v in study.truth.mean("value").items()]
    for comp in study.comparisons:
        if comp.basis != "scored":
            records += [(comp.label, c, 100 * v) for c, v in zip(comp.candidates, comp.proxy, strict=True)]
    frame = pd.DataFrame(records, columns=["side", "candidate", "accuracy"])
    dims = pd.DataFrame([{"candidate": c, **cfg} for c, cfg in study.configs.items()])
    return frame.merge(dims, on="candidate") if len(dims) else frame


FIGURES: dict[str, Callable[[Analysis], Figure]] = {
    "accuracy_scatter": accuracy_scatter,
    "rank_scatter": rank_scatter,
    "metric_heatmap": metric_heatmap,
    "precision_curves": precision_curves,
    "dimension_effects": dimension_effects,
}


def figures(study: Analysis) -> dict[str, Figure]:
    with sns.axes_style("whitegrid"), sns.plotting_context("notebook", font_scale=0.9):
        return {name: fit_text(make(study)) for name, make in FIGURES.items()}


FIT_ROUNDS = 12  # each round narrows every text still outside by a fifth; the layout is redone between


def fit_text(fig: Figure) -> Figure:
    """Wrap (or, when it cannot be wrapped, shrink) every title, label and legend text that reaches
    outside the canvas, redoing the layout after each round, until all of them fit."""
    for _ in range(FIT_ROUNDS):
        fig.canvas.draw()  # lays the figure out (constrained layout) and sizes every text
        renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
        outside = [t for t in _own_texts(fig) if not inside(t.get_window_extent(renderer), fig.bbox)]
        if not outside:
            break
        for text in outside:
            _narrow(text)
    return fig


def inside(extent, box, slack: float = 0.5) -> bool:
    """Whether the display-space box ``extent`` lies within ``box`` (``slack`` pixels of rounding)."""
    return (extent.x0 >= box.x0 - slack and extent.x1 <= box.x1 + slack and extent.y0 >= box.y0 - slack
            and extent.y1 <= box.y1 + slack)


def _own_texts(fig: Figure) -> Iterator[Text]:
    """The texts the figures set: figure titles, axes titles, axis labels, legends (tick labels are
    placed by the layout engine, which keeps them inside)."""
    legends = list(fig.legends)
    texts: list[Text] = list(fig.texts)
    for ax in fig.axes:
        if not ax.get_visible():
            continue
        texts += [ax.title, ax._left_title, ax._right_title, ax.xaxis.label, ax.yaxis.label, *ax.texts]
        legends += [ax.get_legend()] if ax.get_legend() is not None else []
    for legend in legends:
        texts += [legend.get_title(), *legend.get_texts()]
    return (t for t in texts if t.get_visible() and t.get_text())


def _narrow(text: Text) -> None:
    """Wrap ``text``'s longest line to four fifths of its length; if it has no space to break at, make
    the font a tenth smaller."""
    lines = text.get_text().split("\n")
    width = max(8, int(0.8 * max(len(line) for line in lines)))
    wrapped = "\n".join(textwrap.fill(line, width, break_long_words=False, break_on_hyphens=False) or line
                         for line in lines)
    if wrapped != text.get_text():
        text.set_text(wrapped)
    else:
        text.set_fontsize(0.9 * text.get_fontsize())


def save_all(study: Analysis, folder: str | Path, formats: tuple[str, ...] = ("png", "pdf")) -> list[Path]:
    """Write every figure as ``folder/{name}.{png,pdf}``; returns the paths written."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for name, fig in figures(study).items():
        for fmt in formats:
            path = folder / f"{name}.{fmt}"
            atomic_write(path, partial(fig.savefig, format=fmt, dpi=150 if fmt == "png" else None), what="the plot")
            out.append(path)
    return out
