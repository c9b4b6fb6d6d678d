"""Scorers beside proxies: ``proxynas score``, ``correlate --baseline SCORER``, study files with scorers in
their baselines, and the recipe ``zero-cost-nb201-cifar10``."""

from __future__ import annotations

import json

import pytest
from scipy import stats
from test_truth_analognas import BEST, write_anb

from proxynas.cli import main
from proxynas.cli.study_text import render_plan
from proxynas.scoring import ScoreStore
from proxynas.store import ResultsStore
from proxynas.study import build_steps, load_study, study_status
from proxynas.study.steps import needs_data
from proxynas.truth.analognas import arch_string
from proxynas.zerocost.score import score
from search_spaces import get_space

STUDY = """\
[study]
name = "zero-cost-digits"
dataset = "digits"
output = "{out}"
baselines = ["early_stopping:1", "synflow", "params"]

[space]
sample = 4
where = {{ width = [32], depth = [1, 2] }}

[[proxies]]
method = "random"
ipc = 2

[search]
epochs = 2

[truth]
epochs = 2

[metrics]
top_k = [2, 3]
resamples = 0
"""


@pytest.mark.slow
def test_digits_study_with_params_synflow_and_a_proxy_in_one_table(home, tmp_path, capsys):
    path = tmp_path / "zc.toml"
    path.write_text(STUDY.format(out=tmp_path / "out"))
    assert main(["study", "run", str(path), "--device", "cpu", "--json"]) == 0
    captured = capsys.readouterr()
    assert "score synflow" in captured.err and "score params" in captured.err
    rows = {r["label"]: r for r in json.loads(captured.out)["rows"]}
    assert set(rows) == {"random_digits_ipc2", "early_stopping:1", "synflow", "params", "whole training set"}
    space = get_space("dc_convnet")
    with ResultsStore(home / "results.sqlite") as results:
        truth = {r.candidate: r.val_acc for r in results.rows(trainset="full_digits", epochs=2)}
    assert len(truth) == 4
    ids = sorted(truth)
    params = [sum(p.numel() for p in space.build(space.parse(c), (1, 8, 8), 10).parameters()) for c in ids]
    assert rows["params"]["spearman"] == pytest.approx(stats.spearmanr(params, [truth[c] for c in ids])[0])
    for name in ("params", "synflow"):
        assert rows[name]["candidates"] == 4 and rows[name]["search_seconds"] > 0
    with ScoreStore(home / "results.sqlite") as store:
        assert len(store.rows(scorer="synflow")) == 4
    assert main(["study", "table", str(path)]) == 0  # from the stores alone, nothing rescored
    assert "synflow" in capsys.readouterr().out


@pytest.mark.slow  # plans all 15,625 cells
def test_the_recipe_plans_zero_cost_scorers_against_the_analognas_truth(home):
    spec = load_study("zero-cost-nb201-cifar10")
    steps = build_steps(spec)
    assert len(steps.candidates) == 15625 and steps.truth.plan.imported == "analognas:nb201:cifar10:baseline"
    assert steps.scorers == ("params", "flops", "synflow", "grad_norm", "snip", "grasp", "fisher", "jacob_cov",
                             "nwot", "zen", "vote")
    assert not steps.search and not steps.baselines and not steps.condense
    assert needs_data(steps)  # snip, grasp, ... read a CIFAR-10 minibatch
    data_free = build_steps(spec.__class__(**{**spec.__dict__, "baselines": ("params", "flops", "synflow")}))
    assert not needs_data(data_free)  # runs with no CIFAR-10 on disk
    assert spec.published.spearman["vote"] == 0.82 and spec.published.spearman["synflow"] == 0.74
    with ResultsStore(home / "results.sqlite") as results:
        plan = render_plan(study_status(data_free, results, None, None, "no CIFAR-10 here"), None)  # type: ignore[arg-type]
    assert "score synflow" in plan and "15625 candidates" in plan


@pytest.mark.slow
def test_score_cli_and_correlate_with_scorers_on_an_imported_truth(home, tmp_path, capsys):
    cells = {BEST: 94.07, (2, 2, 2, 2, 2, 2): 93.2, (0, 0, 0, 0, 0, 0): 60.8, (3, 3, 3, 3, 3, 3): 89.5,
             (4, 2, 1, 3, 0, 2): 85.0}
    write_anb(tmp_path / "data.anb", cells)
    assert main(["truth", "import", "analognas", str(tmp_path / "data.anb")]) == 0
    space = get_space("nb201")
    candidates = [space.parse(arch_string(k)) for k in cells]
    with ScoreStore(home / "results.sqlite") as store:
        for name in ("params", "synflow"):
            score(store, name, space, candidates, "cifar10")
    capsys.readouterr()
    assert main(["correlate", "--truth", "cifar10", "--space", "nb201", "--baseline", "params",
                 "--scorer", "synflow", "--resamples", "0", "--json"]) == 0
    study = json.loads(capsys.readouterr().out)
    text = json.dumps(study)
    assert '"params"' in text and '"synflow"' in text
    # data-free scorers need no CIFAR-10 files; data-dependent ones say what is missing, in one line
    assert main(["score", "flops", "--space", "nb201", "--dataset", "cifar10", "--sample", "2"]) == 0
    assert "flops · nb201 on cifar10: 2 candidates" in capsys.readouterr().out
    assert main(["score", "snip", "--space", "nb201", "--dataset", "cifar10", "--sample", "2"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("proxynas: error: cifar10: missing") and "\n" not in err
    assert main(["score", "nosuch"]) == 2
