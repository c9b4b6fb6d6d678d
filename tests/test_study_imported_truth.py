"""A study whose ground truth was imported (``proxynas truth import``): read, never trained."""

from __future__ import annotations

import json

from scipy import stats

from proxynas.cli import main
from proxynas.store import ResultsStore
from search_spaces import get_space

STUDY = """\
[study]
name = "nb201-imported"
dataset = "digits"
output = "{out}"

[space]
name = "nb201"
archs = {archs}

[[proxies]]
method = "random"
ipc = 2

[search]
epochs = 1

[truth]
imported = "csv:nb201:digits:published"
epochs = 200

[metrics]
top_k = [2]
resamples = 0
"""


def test_a_study_reads_an_imported_truth_and_trains_none(home, tmp_path, capsys):
    space = get_space("nb201")
    archs = [c.id for c in space.sample(4, seed=5, unique=True)]
    published = {a: (0.50 + 0.1 * i, 0.49 + 0.1 * i) for i, a in enumerate(archs)}  # a published table's shape
    table = tmp_path / "published.csv"
    lines = ["arch,accuracy,test_accuracy,seed"]
    lines += [f"{a},{v},{t},{seed}" for a, (v, t) in published.items() for seed in (777, 888)]
    table.write_text("\n".join(lines) + "\n")
    path = tmp_path / "study.toml"
    path.write_text(STUDY.format(out=tmp_path / "out", archs=json.dumps(archs)))

    assert main(["study", "run", str(path)]) == 2  # no truth yet: the error says how to import it
    assert "proxynas truth import" in capsys.readouterr().err
    assert main(["truth", "import", "csv", str(table), "--dataset", "digits", "--space", "nb201",
                 "--epochs", "200", "--source", "published"]) == 0
    assert main(["study", "run", str(path)]) == 0
    capsys.readouterr()
    assert main(["study", "table", str(path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    rows = {r["kind"]: r for r in out["rows"] if r["kind"] != "proxy"} | {
        r["label"]: r for r in out["rows"] if r["kind"] == "proxy"}
    truth_pick = max(published, key=lambda a: published[a][0])
    assert rows["whole"]["pick"] == truth_pick and out["truth_epochs"] == 200
    assert abs(rows["whole"]["pick_test_acc"] - published[truth_pick][1]) < 1e-9

    with ResultsStore(home / "results.sqlite") as store:
        searched = store.rows(trainset="random_digits_ipc2")
        truth = store.rows(trainset="full_digits")
    assert {r.protocol for r in truth} == {"csv:nb201:digits:published"} and len(truth) == 8  # nothing trained
    ours = {r.candidate: r.val_acc for r in searched}
    rho = stats.spearmanr([ours[a] for a in archs], [published[a][0] for a in archs]).statistic
    assert abs(rows["random_digits_ipc2"]["spearman"] - rho) < 1e-9


def test_an_imported_truth_takes_no_training_settings(tmp_path, capsys):
    path = tmp_path / "study.toml"
    text = STUDY.format(out=tmp_path / "out", archs='["|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"]')
    path.write_text(text.replace('epochs = 200\n', 'epochs = 200\nlr = 0.1\n'))
    assert main(["study", "plan", str(path)]) == 2
    err = capsys.readouterr().err
    line = text.splitlines().index("epochs = 200") + 2
    assert f"study.toml:{line}:" in err and "truth.lr has no say" in err and err.count("\n") == 1


def test_the_dcbench_recipe_reads_the_nats_truth():
    from proxynas.study.catalog import load_study

    spec = load_study("dcbench-nb201-cifar10")
    assert spec.truth.imported == "NATS-tss-v1_0-3ffb9:cifar10:200ep:test"
    assert spec.space.name == "nb201" and spec.space.unique and spec.space.sample == 110
    assert {p.ipc for p in spec.proxies} == {50} and spec.search.protocol.batch_size == 64
