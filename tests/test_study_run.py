"""``proxynas study plan | run | table | report`` on a tiny real digits study: two proxies, one baseline,
four candidates, two epochs; then a run killed with SIGKILL while training, and resumed."""

from __future__ import annotations

import csv
import json
import os
import sqlite3
import subprocess
import sys

import numpy as np
import pytest
from kill_support import kill_once_stored
from scipy import stats

from proxynas.cli import main
from proxynas.store import ResultsStore

TINY = """\
[study]
name = "tiny"
dataset = "digits"
output = "{out}"
baselines = ["early_stopping:1"]

[space]
sample = {sample}
where = {{ width = [32], depth = [1, 2] }}

[[proxies]]
method = "random"
ipc = 2

[[proxies]]
method = "herding"
ipc = 2

[search]
epochs = {epochs}

[truth]
epochs = 2

[metrics]
top_k = [2, 3]
resamples = 20
"""


def write_study(tmp_path, *, sample=4, epochs=2, name="tiny.toml"):
    path = tmp_path / name
    path.write_text(TINY.format(out=tmp_path / "out", sample=sample, epochs=epochs))
    return path


def best_of(rows):
    """The candidates with the highest validation accuracy (the table's pick, or 'N tied' with their mean)."""
    top = max(r.val_acc for r in rows)
    return sorted(r.candidate for r in rows if r.val_acc == top)


@pytest.mark.slow
def test_plan_run_table_and_report_of_a_tiny_study(home, tmp_path, capsys):
    path = write_study(tmp_path)
    assert main(["study", "plan", str(path), "--device", "cpu"]) == 0
    plan = capsys.readouterr().out
    for text in ("condense random_digits_ipc2", "to make", "search on herding_digits_ipc2",
                 "ground truth on full_digits", "baseline early_stopping:1", "4 cand x 1 seed x 2 ep x 20 img",
                 "4 cand x 1 seed x 1 ep x 1,294 img", "0/4", "ESTIMATE", "measured now on cpu"):
        assert text in plan, text
    assert plan.index("condense herding") < plan.index("search on random") < plan.index("ground truth") \
        < plan.index("baseline") < plan.index("analysis")

    assert main(["study", "run", str(path), "--device", "cpu", "--json"]) == 0
    captured = capsys.readouterr()
    table = json.loads(captured.out)
    for text in ("[1/6] condense random_digits_ipc2", "[3/6] search on random_digits_ipc2",
                 "[6/6] baseline early_stopping:1", "0 already in the store, 4 to train"):
        assert text in captured.err, text
    rows = {r["label"]: r for r in table["rows"]}
    assert list(rows) == ["random_digits_ipc2", "herding_digits_ipc2", "early_stopping:1", "whole training set"]
    assert [r["storage_images"] for r in rows.values()] == [20, 20, 1294, 1294]
    assert all(r["candidates"] == 4 and r["seconds"] > 0 for r in rows.values())
    assert rows["random_digits_ipc2"]["condense_seconds"] is not None
    assert rows["whole training set"]["spearman"] == 1.0

    with ResultsStore(home / "results.sqlite") as store:
        truth = {r.candidate: r for r in store.rows(trainset="full_digits") if r.epochs == 2}
        for label in ("random_digits_ipc2", "herding_digits_ipc2"):
            searched = store.rows(trainset=label)
            assert len(searched) == 4
            picks = best_of(searched)
            assert rows[label]["pick"] == (picks[0] if len(picks) == 1 else f"{len(picks)} tied")
            assert rows[label]["pick_test_acc"] == pytest.approx(np.mean([truth[p].test_acc for p in picks]))
            ids = sorted(truth)
            rho = stats.spearmanr([next(r.val_acc for r in searched if r.candidate == c) for c in ids],
                                  [truth[c].val_acc for c in ids]).statistic
            assert rows[label]["spearman"] == pytest.approx(rho)
        assert len(store.rows(trainset="full_digits")) == 8  # the truth (2 epochs) and the baseline (1 epoch)

    out = tmp_path / "out"
    assert json.loads((out / "table.json").read_text()) == table
    written = list(csv.DictReader((out / "table.csv").open()))
    assert [r["compared"] for r in written] == list(rows) and written[0]["spearman@top2"] != ""

    assert main(["study", "plan", str(path), "--device", "cpu"]) == 0
    plan = capsys.readouterr().out
    assert "everything is in the store" in plan and "to make" not in plan and "0/4" not in plan
    assert main(["study", "run", str(path), "--device", "cpu"]) == 0  # nothing left: prints the table again
    captured = capsys.readouterr()
    assert "0 candidate runs to train" in captured.err and "whole training set" in captured.out

    assert main(["study", "report", str(path)]) == 0
    page = (out / "report.html").read_text()
    assert "The papers&#x27; table" in page or "The papers' table" in page
    assert page.count('src="data:image/png;base64,') == 5 and "early_stopping:1" in page


def test_table_of_an_unfinished_study_names_the_missing_steps(home, tmp_path, capsys):
    path = write_study(tmp_path)
    assert main(["study", "table", str(path)]) == 2
    err = capsys.readouterr().err
    assert "the study is not complete: 6 step(s) missing" in err and f"proxynas study run {path}" in err


def _table_without_times(out_dir) -> list[dict]:
    rows = json.loads((out_dir / "table.json").read_text())["rows"]
    return [{k: v for k, v in r.items() if "seconds" not in k} for r in rows]


@pytest.mark.slow
def test_a_killed_run_resumes_without_duplicates_and_gives_the_same_table(tmp_path):
    """SIGKILL while the first search trains; the rerun keeps the finished rows and trains the rest."""
    killed_home, straight_home = tmp_path / "killed", tmp_path / "straight"
    path = write_study(tmp_path, sample=6, epochs=12)
    # one model at a time: the rows arrive one by one, and every run trains each model alone (grouped
    # stacks agree with it only to float rounding, which could reorder tied candidates)
    argv = [sys.executable, "-m", "proxynas", "study", "run", str(path), "--device", "cpu", "--stack", "1",
            "--workers", "1"]
    db = killed_home / "results.sqlite"
    env = {**os.environ, "PROXYNAS_HOME": str(killed_home)}
    killed_at = kill_once_stored(argv, env, db, rows=2, timeout=180)
    assert 2 <= killed_at < 6, "the kill came too late to test resuming"
    before = dict(sqlite3.connect(db).execute("SELECT candidate || trainset, finished_at FROM results"))

    subprocess.run(argv, env=env, check=True, capture_output=True)
    keys = sqlite3.connect(db).execute(
        "SELECT candidate, trainset, protocol, seed, finished_at FROM results").fetchall()
    assert len(keys) == 6 * 4  # two searches, the truth and the baseline, 6 candidates each
    assert len({k[:4] for k in keys}) == len(keys)  # no duplicates
    now = {c + t: f for c, t, _, _, f in keys}
    assert all(now[k] == f for k, f in before.items())  # the rows finished before the kill were kept
    resumed = _table_without_times(tmp_path / "out")

    subprocess.run(argv, env={**os.environ, "PROXYNAS_HOME": str(straight_home)}, check=True, capture_output=True)
    assert _table_without_times(tmp_path / "out") == resumed  # the same table as a run never killed
