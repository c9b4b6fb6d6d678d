"""Every plot's text fits its canvas: each text drawn (titles, labels, tick labels, legends, cell
annotations) lies inside the figure, measured by the renderer that draws it, on screen and in the saved
PNG of the report (``analysis.report``) and of ``save_all``."""

from __future__ import annotations

import io

import numpy as np
import pytest
from matplotlib.text import Text
from test_analysis_study import QUALITY, put

from analysis import compare, plots
from proxynas.store import ResultsStore


def study_of(tmp_path, proxy: str, *, truth_seeds, baseline: bool):
    rng = np.random.default_rng(1)
    with ResultsStore(tmp_path / "results.sqlite") as s:
        put(s, "full_digits", "long", 50, QUALITY, seeds=truth_seeds)
        if baseline:
            put(s, "full_digits", "short", 5, QUALITY + 0.3 * rng.random(24))
        put(s, proxy, "p", 20, QUALITY + 0.5 * rng.random(24))
        return compare(s, dataset="digits", proxies=[proxy], baselines=["early_stopping"] if baseline else [],
                       resamples=0)


@pytest.fixture
def drawn(monkeypatch):
    """Every non-empty text matplotlib draws, with its extent and the figure's box at that moment."""
    seen: list[tuple[str, object, object]] = []
    original = Text.draw

    def draw(self, renderer):
        original(self, renderer)
        if self.get_visible() and self.get_text():
            seen.append((self.get_text(), self.get_window_extent(renderer), self.figure.bbox.frozen()))

    monkeypatch.setattr(Text, "draw", draw)
    return seen


def outside(seen) -> list[str]:
    return [f"{text!r} at {extent.bounds} outside {box.bounds}" for text, extent, box in seen
            if not plots.inside(extent, box)]


@pytest.mark.parametrize(("proxy", "seeds", "baseline", "dpi"), [
    # one panel: the demo's first plot, whose title was cut off; at the HTML report's resolution
    ("random_digits_ipc10", (0,), False, 110),
    # three panels and a long label, at save_all's PNG resolution
    ("herding_digits_ipc10_with_a_long_descriptive_name", (0, 1), True, 150),
])
def test_every_text_of_every_plot_lies_inside_its_figure(tmp_path, drawn, proxy, seeds, baseline, dpi):
    figures = plots.figures(study_of(tmp_path, proxy, truth_seeds=seeds, baseline=baseline))
    assert len(figures) == len(plots.FIGURES)
    for name, fig in figures.items():
        drawn.clear()
        fig.savefig(io.BytesIO(), format="png", dpi=dpi)
        assert len(drawn) > 5, name  # the recording saw the figure's texts
        assert outside(drawn) == [], name
    title = figures["accuracy_scatter"]._suptitle.get_text()
    assert title.replace("\n", " ") == "Proxy vs ground-truth accuracy (dc_convnet on digits)"  # wrapped, kept


def test_a_title_without_room_is_wrapped_and_a_word_without_room_made_smaller():
    fig = plots._figure(2.0, 2.0)
    ax = fig.subplots()
    fig.suptitle("a title far too long for a figure two inches wide, as a one-panel plot had")
    ax.set_title("Unbreakable_identifier_of_a_proxy_that_has_no_space_in_it")
    before = ax.title.get_fontsize()
    plots.fit_text(fig)
    renderer = fig.canvas.get_renderer()
    assert "\n" in fig._suptitle.get_text()
    assert ax.title.get_text() == "Unbreakable_identifier_of_a_proxy_that_has_no_space_in_it"
    assert ax.title.get_fontsize() < before
    for text in (fig._suptitle, ax.title):
        assert plots.inside(text.get_window_extent(renderer), fig.bbox)
