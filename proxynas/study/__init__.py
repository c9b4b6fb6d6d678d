"""Studies: the condensation papers' NAS experiment as one file and one resumable command.

A study file (TOML) names a dataset, the candidates of a search space, the proxies (made or imported),
the baselines, the search and ground-truth protocols, the metrics and where the outputs go::

    spec = load_study("dc2021-cifar10")                # a file's path, or a shipped recipe's name
    steps = build_steps(spec)                          # condense, search, truth, baselines, in order
    status = study_status(steps, results, proxies, splits)   # what the stores hold already
    run_study(steps, results, proxies, splits, RunOptions(ExecutorOptions()), reporter)
    analyse(study_status(...), results, proxies)       # -> the metrics (analysis.Analysis) and the table

Like :mod:`proxynas.cli`, this package sits above ``search_spaces``, ``condensed`` and ``analysis``.
"""

from proxynas.study.catalog import load_study, recipe_names, recipe_text
from proxynas.study.execute import Reporter, RunOptions, run_study
from proxynas.study.results import StudyResults, analyse
from proxynas.study.spec import MetricsSpec, ProxySpec, SpaceSpec, StudySpec, TrainingSpec
from proxynas.study.status import StudyStatus, load_splits, study_status
from proxynas.study.steps import StudySteps, build_steps
from proxynas.study.validate import parse_study, read_study

__all__ = ["MetricsSpec", "ProxySpec", "Reporter", "RunOptions", "SpaceSpec", "StudyResults", "StudySpec",
           "StudyStatus", "StudySteps", "TrainingSpec", "analyse", "build_steps", "load_splits", "load_study",
           "parse_study", "read_study", "recipe_names", "recipe_text", "run_study", "study_status"]
