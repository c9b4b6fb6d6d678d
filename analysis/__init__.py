"""How good is a proxy? Rank agreement with the ground truth, in numbers and pictures.

Reads the results store (never writes it)::

    from analysis import compare, write_report, plots, tables
    from proxynas.store import ResultsStore
    from proxynas.proxies import ProxyStore

    study = compare(ResultsStore(path), dataset="digits", space="dc_convnet",
                    proxies=["random_digits_ipc10", "herding_digits_ipc10"],
                    baselines=["early_stopping"],          # or "early_stopping:5" (epochs)
                    proxy_store=ProxyStore(proxy_dir),     # optional: condensing seconds from proxy cards
                    seed=0, resamples=1000)                # bootstrap; resamples=0 skips intervals
    print(tables.render(study))                            # terminal tables
    tables.to_json(study); tables.write_csv(study, "metrics.csv")
    plots.save_all(study, "plots/")                        # -> list[Path], PNG and PDF per figure
    write_report(study, "report.html")                     # one self-contained page

``Analysis.comparisons`` holds one :class:`Comparison` per proxy and baseline (aligned accuracy arrays,
``scores`` by metric name, left-out counts, cost); ``Analysis.ceiling`` is the same between two
ground-truth seeds, when the store has them. Metric names and labels: ``analysis.scores.METRICS``;
the pure functions behind them: :mod:`analysis.metrics`.
"""

from analysis.report import write_report
from analysis.scores import METRICS, MetricValue, Score
from analysis.study import Analysis, Comparison, Cost, Study, compare, compare_sides

__all__ = ["METRICS", "Analysis", "Comparison", "Cost", "MetricValue", "Score", "Study", "compare", "compare_sides",
           "write_report"]
