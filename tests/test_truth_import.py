"""``proxynas truth import``: published NB201 / NATS-Bench accuracies and CSV tables become the ground truth."""

from __future__ import annotations

import bz2
import csv
import json
import os
import sqlite3

import pytest
from nats_files import SEEDS, accuracy, save_bz2, write_pth, write_simple, write_single

from proxynas.cli import main
from proxynas.errors import DataError
from proxynas.store import ResultRow, ResultsStore
from proxynas.truth import read_nats
from search_spaces import get_space

SPACE = get_space("nb201")
META = [c.id for c in SPACE.sample(40, seed=7)]  # the benchmark's index order is its own
PICKED = [0, 3, 11, 29]


def db_rows(home, trainset="full_cifar10"):
    db = sqlite3.connect(home / "results.sqlite")
    db.row_factory = sqlite3.Row
    return [dict(r) for r in db.execute("SELECT * FROM results WHERE trainset = ? ORDER BY candidate, seed",
                                        (trainset,))]


def test_nats_simple_folder_becomes_the_cifar10_truth(home, tmp_path, capsys):
    folder = write_simple(tmp_path / "NATS-tss-v1_0-3ffb9-simple", META, PICKED)
    assert main(["truth", "import", "nb201", str(folder), "--dataset", "cifar10"]) == 0
    out = capsys.readouterr().out
    assert "4 candidates, 12 rows (seeds 777, 888, 999), 200 epochs" in out
    rows = db_rows(home)
    assert len(rows) == 12 and {r["space"] for r in rows} == {"nb201"}
    assert {r["protocol"] for r in rows} == {"NATS-tss-v1_0-3ffb9:cifar10:200ep:test"}
    for r in rows:  # DC-Bench's truth: the cifar10 runs (50,000 images), ranked on the test set
        assert r["val_acc"] == r["test_acc"] == pytest.approx(accuracy(r["candidate"], "cifar10", "ori-test",
                                                                        r["seed"], 200) / 100)
        assert r["epochs"] == 200 and r["dataset"] == "cifar10" and r["seconds"] == 200 * 12.5
    assert {r["candidate"] for r in rows} == {META[i] for i in PICKED}
    settings = json.loads(sqlite3.connect(home / "results.sqlite").execute(
        "SELECT json FROM protocols WHERE key = ?", ("NATS-tss-v1_0-3ffb9:cifar10:200ep:test",)).fetchone()[0])
    assert settings["epochs"] == 200 and settings["benchmark_dataset"] == "cifar10"

    assert main(["truth", "import", "nb201", str(folder), "--dataset", "cifar10"]) == 0  # again: replaced
    assert len(db_rows(home)) == 12


def test_validation_ranking_and_the_12_epoch_budget(tmp_path):
    folder = write_simple(tmp_path / "NATS-tss-v1_0-3ffb9-simple", META, PICKED)
    valid = read_nats(folder, "cifar10", rank_on="valid")
    run = valid.runs[0]
    assert run.val_acc == pytest.approx(accuracy(run.candidate, "cifar10-valid", "x-valid", run.seed, 200) / 100)
    assert run.test_acc == pytest.approx(accuracy(run.candidate, "cifar10-valid", "ori-test", run.seed, 200) / 100)
    short = read_nats(folder, "cifar100", epochs=12)
    assert short.seeds() == SEEDS["12"] and short.protocol == "NATS-tss-v1_0-3ffb9:cifar100:12ep:test"
    assert short.runs[0].test_acc == pytest.approx(
        accuracy(short.runs[0].candidate, "cifar100", "x-test", 111, 12) / 100)


def test_single_file_and_nb201_pth_layouts_read_alike(tmp_path):
    simple = read_nats(write_simple(tmp_path / "NATS-tss-v1_0-3ffb9-simple", META, PICKED), "cifar10")
    single = read_nats(write_single(tmp_path / "NATS-tss-v1_0-3ffb9.pickle.pbz2", META, PICKED), "cifar10")
    assert single.runs == simple.runs and single.settings["layout"] == "nats"
    for legacy in (False, True):
        pth = read_nats(write_pth(tmp_path / f"NAS-Bench-201-v1_0-{legacy}.pth", META, PICKED, legacy), "cifar10")
        assert pth.runs == simple.runs and pth.settings["layout"] == "nb201-pth"


class Boom:
    def __reduce__(self):
        return os.system, ("touch pwned",)


def test_a_file_that_would_run_code_is_refused_and_nothing_runs(home, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    folder = write_simple(tmp_path / "NATS-tss-v1_0-3ffb9-simple", META, PICKED)
    save_bz2({"200": Boom()}, folder / "000003.pickle.pbz2")
    assert main(["truth", "import", "nb201", str(folder), "--dataset", "cifar10"]) == 2
    err = capsys.readouterr().err
    assert "refusing to load" in err and "system" in err and err.count("\n") == 1
    assert not (tmp_path / "pwned").exists()
    assert not (home / "results.sqlite").exists()  # nothing stored from a refused file


def test_only_numeric_numpy_scalars_are_rebuilt(tmp_path):
    folder = write_simple(tmp_path / "NATS-tss-v1_0-3ffb9-simple", META, [5])
    # pickle of numpy.dtype("O"): an object dtype could hold anything
    (folder / "000005.pickle.pbz2").write_bytes(bz2.compress(
        b"\x80\x04cnumpy\ndtype\nq\x00X\x01\x00\x00\x00Oq\x01\x85q\x02Rq\x03."))
    with pytest.raises(DataError, match="refusing numpy dtype 'O'"):
        read_nats(folder, "cifar10")


def test_correlate_against_imported_truth(home, tmp_path, capsys):
    """A proxy's rows (as `search` stores them) ranked against the published truth, noise ceiling included."""
    folder = write_simple(tmp_path / "NATS-tss-v1_0-3ffb9-simple", META, PICKED)
    assert main(["truth", "import", "nb201", str(folder), "--dataset", "cifar10"]) == 0
    means: dict[str, list[float]] = {}
    for r in db_rows(home):
        means.setdefault(r["candidate"], []).append(r["val_acc"])
    with ResultsStore(home / "results.sqlite") as store:
        store.save_protocol("p1", {"epochs": 50})
        for cand, accs in means.items():  # a proxy ranking in the truth's order, as search would store it
            acc = sum(accs) / len(accs) / 2
            store.put(ResultRow("nb201", cand, "random_cifar10_ipc50", "p1", 0, "cifar10", "done", acc, acc,
                                1.0, 3.0, 50))
    capsys.readouterr()
    assert main(["correlate", "--truth", "cifar10", "--space", "nb201", "--proxy", "random_cifar10_ipc50",
                 "--resamples", "0", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["truth"]["epochs"] == 200 and result["truth"]["seeds"] == [777, 888, 999]
    (proxy,) = result["comparisons"]
    assert proxy["candidates"] == 4 and proxy["metrics"]["spearman"]["value"] == pytest.approx(1.0)
    assert result["noise_ceiling"]["label"] == "noise ceiling (3 seeds)"


def test_csv_table_in_percent_with_seeds(home, tmp_path, capsys):
    space = get_space("dc_convnet")
    ids = [c.id for c in space.sample(3, seed=0)]
    table = tmp_path / "published.csv"
    table.write_text("arch,accuracy,test_accuracy,seed,seconds,note\n" + "".join(
        f"{a},{60 + i},{59 + i},{s},{10 * i},x\n" for i, a in enumerate(ids) for s in (0, 1)))
    assert main(["truth", "import", "csv", str(table), "--dataset", "digits", "--space", "dc_convnet",
                 "--epochs", "30"]) == 0
    assert "3 candidates, 6 rows (seeds 0, 1), 30 epochs, from published" in capsys.readouterr().out
    rows = db_rows(home, "full_digits")
    assert [(r["candidate"], r["seed"], r["val_acc"], r["test_acc"], r["seconds"]) for r in rows] == sorted(
        (a, s, (60 + i) / 100, (59 + i) / 100, 10 * i) for i, a in enumerate(ids) for s in (0, 1))
    assert {r["protocol"] for r in rows} == {"csv:dc_convnet:digits:published"} and rows[0]["epochs"] == 30


@pytest.mark.parametrize(("text", "message"), [
    ("id,acc\nx,1\n", "has no column arch, accuracy"),
    ("arch,accuracy\nd9_w1,0.5\n", "not a dc_convnet candidate id"),
    ("arch,accuracy\nd1_w32_relu_none_avgpool,high\n", "line 2: accuracy 'high' is not a number"),
    ("arch,accuracy\nd1_w32_relu_none_avgpool,130\n", "not between 0 and 1"),
    ("arch,accuracy\nd1_w32_relu_none_avgpool,0.5\nd1_w32_relu_none_avgpool,0.6\n", "appears twice"),
])
def test_bad_tables_are_one_line_errors(home, tmp_path, capsys, text, message):
    table = tmp_path / "t.csv"
    table.write_text(text)
    assert main(["truth", "import", "csv", str(table), "--dataset", "digits", "--space", "dc_convnet",
                 "--epochs", "5"]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


@pytest.mark.slow
def test_nb201_search_on_digits_against_a_csv_truth(home, tmp_path, capsys, monkeypatch):
    """The whole path on real data: search NB201 cells on a digits proxy, a truth trained elsewhere
    (another store) exported to CSV and imported, then correlate."""
    picks = ["--space", "nb201", "--sample", "4", "--sample-seed", "1"]
    assert main(["search", "--proxy", "random_digits_ipc5", *picks, "--epochs", "1", "--device", "cpu"]) == 0
    capsys.readouterr()
    monkeypatch.setenv("PROXYNAS_HOME", str(tmp_path / "elsewhere"))
    assert main(["truth", "--dataset", "digits", *picks, "--epochs", "1", "--device", "cpu", "--json"]) == 0
    trained = json.loads(capsys.readouterr().out)["results"]
    table = tmp_path / "digits_truth.csv"
    with table.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["arch", "accuracy", "test_accuracy"])
        writer.writerows([r["candidate"], r["val_acc"], r["test_acc"]] for r in trained)
    monkeypatch.setenv("PROXYNAS_HOME", str(home))
    assert main(["truth", "import", "csv", str(table), "--dataset", "digits", "--space", "nb201",
                 "--epochs", "1"]) == 0
    capsys.readouterr()
    assert main(["correlate", "--truth", "digits", "--space", "nb201", "--proxy", "random_digits_ipc5",
                 "--resamples", "0", "--json"]) == 0
    (proxy,) = json.loads(capsys.readouterr().out)["comparisons"]
    assert proxy["candidates"] == 4 and proxy["metrics"]["spearman"]["value"] is not None
