"""How good is a proxy? Rank agreement with the ground truth, in numbers and pictures.

Reads the results store (never writes it)::

    from analysis import compare, write_report, plots, tables
    from proxynas.store import ResultsStore
    from proxynas.proxies import ProxyLibrary

    study = compare(ResultsStore(path), dataset="digits", space="dc_convnet",
                    proxies=["random_digits_ipc10", "herding_digits_ipc10"],
                    baselines=["early_stopping"],          # or "early_stopping:5" (epochs)
                    proxy_store=ProxyLibrary(proxy_dir),   # optional: condensing seconds from proxy cards
                    seed=0, resamples=1000)                # bootstrap; resamples=0 skips intervals
    print(tables.render(study))                            # terminal tables
    tables.to_json(study); tables.write_csv(study, "metrics.csv")
    plots.save_all(study, "plots/")                        # -> list[Path], PNG and PDF per figure
    write_report(study, "report.html")                     # one self-contained page

``Analysis.comparisons`` holds one :class:`Comparison` per proxy and baseline (aligned accuracy arrays,
``scores`` by metric name, left-out counts, cost); ``Analysis.ceiling`` is the same between two
ground-truth seeds, when the store has them. Metric names and labels: ``analysis.scores.METRICS``;
the pure functions behind them: :mod:`analysis.metrics`.

The names above load their modules on first use, so the numeric core (``analysis.metrics``,
``analysis.bootstrap``: numpy and scipy) imports without torch, pandas, matplotlib or seaborn.
"""

import importlib
from typing import Any

_WHERE = {"write_report": "analysis.report", "METRICS": "analysis.scores", "Score": "analysis.scores",
          "MetricValue": "analysis.scores", "Analysis": "analysis.study",
          "Comparison": "analysis.study", "Cost": "analysis.study", "Study": "analysis.study",
          "compare": "analysis.study", "compare_sides": "analysis.study"}

__all__ = ["METRICS", "Analysis", "Comparison", "Cost", "MetricValue", "Score", "Study", "compare", "compare_sides",
           "write_report"]


def __getattr__(name: str) -> Any:
    """The package's names, each imported from its module when first asked for (PEP 562)."""
    if name not in _WHERE:
        raise AttributeError(f"module 'analysis' has no attribute '{name}'")
    return getattr(importlib.import_module(_WHERE[name]), name)
