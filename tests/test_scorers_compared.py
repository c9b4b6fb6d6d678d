"""Scorers are the unit the analysis compares: a scorer registered with its decorator alone shows up in
``correlate``'s table and ``report``'s page and plots; a score, an imported table and a training run each
say what they are; a scorer that trains is planned by a study from the same one class.

The stores are real SQLite files; the ground truth's accuracies are synthetic rows (no training here).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from matplotlib.text import Text
from scipy import stats

from analysis import compare, plots, tables
from analysis.sides import Ask, Ranked
from proxynas import paths
from proxynas.cli import main
from proxynas.datasets import load_dataset
from proxynas.identity import split_identity
from proxynas.scoring import SCORERS, Scorer, get_scorer, list_scorers, register_scorer
from proxynas.scoring.stored import Scores
from proxynas.store import ResultRow, ResultsStore
from proxynas.truth.published import PublishedRun, PublishedTruth, save_truth
from search_spaces import get_space

SPACE = get_space("dc_convnet")
CANDIDATES = [c.id for c in SPACE.sample(20, seed=5)]
QUALITY = np.random.default_rng(2).random(len(CANDIDATES))


def width_score(candidate: str) -> float:
    """The test scorer's number: the width, with the depth breaking ties (a real function of the id)."""
    config = SPACE.parse(candidate).config
    return float(config["width"]) + 0.1 * config["depth"]


@pytest.fixture
def registry(monkeypatch):
    """The scorer registry, restored after the test: a scorer registered in it is gone afterwards."""
    list_scorers()  # the built-in scorers, registered first
    monkeypatch.setattr(SCORERS, "_items", dict(SCORERS._items))
    return SCORERS


def fill_truth(store: ResultsStore, identity: str, epochs: int = 30) -> None:
    store.save_protocol("long", {"epochs": epochs, "lr": 0.01, "batch_size": 256})
    for cand, quality in zip(CANDIDATES, QUALITY, strict=True):
        store.put(ResultRow("dc_convnet", cand, "full_digits", "long", 0, "digits", "done", float(quality),
                            float(quality) - 0.01, 0.4, 2.0, epochs, trainset_id=identity))


def test_a_scorer_registered_by_its_decorator_alone_is_in_correlate_and_report(home, registry, tmp_path, capsys):
    @register_scorer
    class Width(Scorer):
        name = "test_width"
        cost = "none: read from the candidate's id"
        data = False

        def scores(self, ask: Ask) -> Scores:
            among = ask.among()
            return Scores(self.name, {c: width_score(c) for c in among}, {c: 0.001 for c in among})

    with ResultsStore(paths.results_db()) as store:
        fill_truth(store, split_identity(load_dataset("digits")))
    args = ["--truth", "digits", "--baseline", "test_width", "--resamples", "0"]
    assert main(["correlate", *args, "--json"]) == 0
    (found,) = json.loads(capsys.readouterr().out)["comparisons"]
    expected = stats.spearmanr([width_score(c) for c in sorted(CANDIDATES)],
                               [QUALITY[CANDIDATES.index(c)] for c in sorted(CANDIDATES)]).statistic
    assert found["label"] == "test_width" and found["candidates"] == 20
    assert found["metrics"]["spearman"]["value"] == pytest.approx(expected, abs=1e-12)  # rank arithmetic
    # not a training run: no epochs, no training set, the scoring seconds as its cost
    assert found["basis"] == "scored" and found["epochs"] is None and found["trainset"] == ""
    assert found["cost"]["search_seconds"] == pytest.approx(0.02)

    assert main(["correlate", *args]) == 0
    table = capsys.readouterr().out
    row = next(line for line in table.splitlines() if line.lstrip("│| ").startswith("test_width") and "scored" in line)
    assert "none: scored untrained (fp32)" in row and " - " in row.replace("│", " ")

    out = tmp_path / "report.html"
    assert main(["report", *args, "--out", str(out)]) == 0
    page = out.read_text()
    assert page.count("test_width") >= 3  # the overview, the metrics' column and the cost table
    with ResultsStore(paths.results_db()) as store:
        study = compare(store, dataset="digits", baselines=["test_width"], resamples=0,
                        truth_identity=split_identity(load_dataset("digits")))
    drawn = {name: " ".join(t.get_text() for t in fig.findobj(Text)) for name, fig in plots.figures(study).items()}
    for name in ("accuracy_scatter", "rank_scatter", "metric_heatmap", "precision_curves"):
        assert "test_width" in drawn[name], name
    assert "test_width score (untrained)" in drawn["accuracy_scatter"]  # a score is not drawn as an accuracy


def test_an_imported_table_is_a_scorer_that_says_it_was_imported(tmp_path):
    with ResultsStore(tmp_path / "results.sqlite") as store:
        fill_truth(store, "split")
        table = np.random.default_rng(3).random(len(CANDIDATES))
        save_truth(store, PublishedTruth("dc_convnet", "digits", "paper:dc_convnet:digits", {"epochs": 5},
                                         tuple(PublishedRun(c, 0, float(a), float(a)) for c, a in
                                               zip(CANDIDATES, table, strict=True)), "their GPU"), SPACE)
        study = compare(store, dataset="digits", baselines=["published", "published:paper"], resamples=0,
                        truth_identity="split")
        with pytest.raises(Exception, match="no imported tables of digits"):
            compare(store, dataset="digits", baselines=["published:other"], resamples=0, truth_identity="split")
    assert study.truth.epochs == 30 and study.truth.basis == "trained"
    first, second = study.comparisons
    assert (first.label, second.label) == ("published", "published:paper")
    assert first.basis == "imported" and first.epochs == 5
    order = np.argsort(CANDIDATES)
    expected = stats.spearmanr(table[order], QUALITY[order]).statistic
    assert first.scores["spearman"].value == pytest.approx(expected, abs=1e-12)
    assert "published" in tables.render(study)


def test_a_training_run_row_is_read_as_its_validation_accuracy():
    row = ResultRow("dc_convnet", CANDIDATES[0], "full_digits", "p", 1, "digits", "done", 0.8, 0.7, 0.3, 2.5, 4)
    assert Ranked.of(row) == Ranked(CANDIDATES[0], 1, 0.8, 0.7, "done", 2.5, "digits", "fp32", None)


def test_a_scorer_that_trains_is_planned_by_a_study_from_its_one_class(registry, tmp_path):
    from dataclasses import replace

    from proxynas.study import build_steps, load_study

    @register_scorer
    class Halved(Scorer):
        name = "test_halved"
        cost = "training half the ground truth's epochs on the whole training split"
        trains = True

        def training(self, arg, truth):
            return replace(truth, protocol=replace(truth.protocol, epochs=truth.protocol.epochs // 2))

    path = tmp_path / "study.toml"
    path.write_text(STUDY)
    spec = load_study(str(path))
    steps = build_steps(spec)
    (halved,) = steps.baselines
    assert halved.label == "test_halved" and halved.plan.protocol.epochs == 2
    assert halved.plan.trainset == "full_digits" and not steps.scorers
    assert get_scorer("early_stopping").training("3", spec.truth).protocol.epochs == 3  # the same one class


STUDY = """
[study]
name = "scorer-unit"
dataset = "digits"
baselines = ["test_halved"]

[space]
name = "dc_convnet"
sample = 2
where = { width = [32], depth = [1, 2] }

[search]
epochs = 2

[truth]
epochs = 4
"""


def test_the_docs_example_scorer_registers_and_scores(registry, tmp_path):
    from pathlib import Path

    text = (Path(__file__).parent.parent / "docs" / "zero-cost.md").read_text()
    (block,) = [b.split("```", 1)[0] for b in text.split("```python\n")[1:]]
    exec(compile(block, "docs/zero-cost.md", "exec"), {})  # registers 'width' with the decorator alone
    with ResultsStore(tmp_path / "results.sqlite") as store:
        fill_truth(store, "split")
        study = compare(store, dataset="digits", baselines=["width"], resamples=0, truth_identity="split")
    (c,) = study.comparisons
    assert c.label == "width" and c.basis == "scored" and len(c.candidates) == 20
    at = {cand: i for i, cand in enumerate(c.candidates)}
    assert all(c.proxy[at[cand]] == SPACE.parse(cand).config["width"] for cand in CANDIDATES)


def test_the_analysis_old_names_stay_as_aliases():
    import analysis
    from analysis.scores import MetricValue, Score

    assert analysis.Study is analysis.Analysis and Score is MetricValue and analysis.Score is MetricValue


IMPORTED_STUDY = """\
[study]
name = "scorers-imported"
dataset = "digits"
output = "{out}"
baselines = ["published:csv:nb201:digits:theirs", "test_convs"]

[space]
name = "nb201"
archs = {archs}

[truth]
imported = "csv:nb201:digits:ours"
epochs = 200

[metrics]
top_k = [2]
resamples = 0
"""


def test_a_study_compares_an_imported_table_and_a_new_scorer_training_nothing(home, registry, tmp_path, capsys):
    @register_scorer
    class Convs(Scorer):
        name = "test_convs"
        cost = "none: counted in the id"
        data = False

        def scores(self, ask: Ask) -> Scores:
            return Scores(self.name, {c: float(c.count("conv")) for c in ask.among()}, {})

    space = get_space("nb201")
    archs = [c.id for c in space.sample(6, seed=4, unique=True)]
    rng = np.random.default_rng(5)
    tables_ = {"ours": rng.random(6), "theirs": rng.random(6)}
    for source, values in tables_.items():
        csv = tmp_path / f"{source}.csv"
        csv.write_text("arch,accuracy,test_accuracy\n" + "".join(f"{a},{v},{v}\n" for a, v in zip(archs, values,
                                                                                                   strict=True)))
        assert main(["truth", "import", "csv", str(csv), "--dataset", "digits", "--space", "nb201", "--epochs",
                     "200", "--source", source]) == 0
    path = tmp_path / "study.toml"
    path.write_text(IMPORTED_STUDY.format(out=tmp_path / "out", archs=json.dumps(archs)))
    assert main(["study", "run", str(path)]) == 0
    capsys.readouterr()
    assert main(["study", "table", str(path), "--json"]) == 0
    rows = {r["label"]: r for r in json.loads(capsys.readouterr().out)["rows"]}
    ours = tables_["ours"]
    theirs = stats.spearmanr(tables_["theirs"], ours).statistic
    convs = stats.spearmanr([a.count("conv") for a in archs], ours).statistic
    assert rows["published:csv:nb201:digits:theirs"]["spearman"] == pytest.approx(theirs, abs=1e-12)
    assert rows["test_convs"]["spearman"] == pytest.approx(convs, abs=1e-12)
    with ResultsStore(home / "results.sqlite") as store:
        assert {r.regime for r in store.rows()} == {"published"}  # nothing was trained
