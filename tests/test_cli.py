"""The main commands end to end on real digits data, through ``proxynas.cli.main``."""

import json
import os
import sqlite3
import subprocess
import sys

import pytest
from kill_support import kill_once_stored

from proxynas.cli import main

SEARCH = ["search", "--proxy", "random_digits_ipc5", "--sample", "4", "--epochs", "2", "--device", "cpu"]


def test_search_makes_the_coreset_trains_ranks_and_stores(home, capsys):
    assert main([*SEARCH, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["proxy"] == "random_digits_ipc5" and len(out["results"]) == 4
    accs = [r["val_acc"] for r in out["results"]]
    assert accs == sorted(accs, reverse=True) and all(0 <= a <= 1 for a in accs)
    assert (home / "proxies" / "random_digits_ipc5.safetensors").exists()
    db = sqlite3.connect(home / "results.sqlite")
    assert db.execute("SELECT COUNT(*) FROM results WHERE trainset='random_digits_ipc5'").fetchone()[0] == 4

    assert main(["proxies"]) == 0
    assert "random_digits_ipc5" in capsys.readouterr().out
    assert main([*SEARCH, "--top", "2"]) == 0  # everything is in the store: nothing retrained
    out = capsys.readouterr()
    assert "4 already in the store, 0 to train" in out.err and "2 more" in out.out


def test_every_local_executor_stores_the_same_results(home, capsys):
    """--executor serial, --executor local with 2 workers and --stack 4: the same rows (the invariant)."""
    runs = []
    for options in (["--executor", "serial"], ["--executor", "local", "--workers", "2"], ["--stack", "4"]):
        assert main([*SEARCH, "--aug", "dsa", "--json", "--fresh", *options]) == 0
        out = json.loads(capsys.readouterr().out)
        runs.append({r["candidate"]: (r["val_acc"], r["test_acc"]) for r in out["results"]})
    assert runs[0] == runs[1]
    for candidate, (val, _) in runs[2].items():  # grouped convolutions: equal to float rounding
        assert val == pytest.approx(runs[0][candidate][0], abs=0.01)


def test_search_keeps_one_candidate_per_isomorphism_class_with_unique(home, capsys):
    from search_spaces import get_space

    space = get_space("nb201")
    argv = ["search", "--proxy", "random_digits_ipc5", "--space", "nb201", "--unique", "--sample", "3",
            "--epochs", "1", "--device", "cpu", "--json"]
    assert main(argv) == 0
    ids = [r["candidate"] for r in json.loads(capsys.readouterr().out)["results"]]
    representatives = {c.id for c in space.candidates(unique=True)}
    assert len(ids) == 3 and set(ids) <= representatives  # 3 random cells all would be: about 7% odds
    assert len({space.canonical(space.parse(i)) for i in ids}) == 3


def test_truth_trains_on_the_full_split(home, capsys):
    assert main(["truth", "--dataset", "digits", "--arch", "d1_w32_relu_none_avgpool", "--epochs", "1",
                 "--seeds", "2", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["trainset"] == "full_digits" and out["results"][0]["seeds"] == 2


def test_search_resumes_after_a_kill(home):
    """A search killed part-way keeps its finished rows; the rerun adds the rest, no duplicates."""
    args = [sys.executable, "-m", "proxynas", "search", "--proxy", "random_digits_ipc5", "--sample", "12",
            "--where", "width=32,64", "--epochs", "15", "--device", "cpu", "--stack", "1"]
    env = {**os.environ, "PROXYNAS_HOME": str(home)}
    db_path = home / "results.sqlite"
    killed_at = kill_once_stored(args, env, db_path, rows=2, timeout=120)
    assert 2 <= killed_at < 12, "the kill came too late to test resume"
    before = {r[0]: r[1] for r in sqlite3.connect(db_path).execute("SELECT candidate, finished_at FROM results")}
    subprocess.run(args, env=env, check=True, capture_output=True)
    rows = sqlite3.connect(db_path).execute("SELECT candidate, finished_at FROM results").fetchall()
    assert len(rows) == 12 == len({c for c, _ in rows})
    assert all(dict(rows)[c] == t for c, t in before.items())  # finished rows were kept, not redone


def test_fresh_retrains(home, capsys):
    args = [*SEARCH[:4], "1", *SEARCH[5:]]
    assert main(args) == 0
    assert main([*args, "--fresh"]) == 0
    assert "0 already in the store, 1 to train" in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["search", "--proxy", "nope"], "unknown proxy 'nope'"),
    (["search", "--proxy", "randon_digits_ipc5"], "unknown condensation method 'randon' (did you mean 'random'?"),
    (["search", "--proxy", "random_digit_ipc5"], "unknown dataset 'digit' (did you mean 'digits'?"),
    (["search", "--proxy", "dc_digits_ipc5"], "make it first: proxynas condense dc --dataset digits --ipc 5"),
    (["search", "--proxy", "random_digits_ipc5", "--space", "dc_convnett"], "unknown search space"),
    (["search", "--proxy", "random_digits_ipc5", "--arch", "d9_w1_x_y_z"], "not a dc_convnet candidate id"),
    (["search", "--proxy", "random_digits_ipc5", "--where", "depth=9"], "depth=9 is not a choice"),
    (["search", "--proxy", "random_digits_ipc5", "--epochs", "0"], "epochs must be at least 1"),
    (["search", "--proxy", "random_digits_ipc5", "--workers", "0"], "--workers must be at least 1"),
    (["search", "--proxy", "random_digits_ipc5", "--executor", "ray", "--max-retries", "-1"],
     "--max-retries must not be negative"),
    (["search", "--proxy", "random_digits_ipc5", "--max-retries", "1"],
     "--max-retries is an option of --executor ray, not of --executor local"),
    (["search", "--proxy", "random_digits_ipc5", "--executor", "nope"], "unknown executor 'nope'"),
    (["truth", "--dataset", "cifar100"], "cifar-100-python"),
    (["truth", "--dataset", "mnist", "--data-root", "/nonexistent"], "train-images-idx3-ubyte"),
    (["condense", "herd", "--dataset", "digits", "--ipc", "1"], "did you mean 'herding'"),
    (["condense", "random", "--dataset", "digits", "--ipc", "0"], "--ipc must be at least 1"),
    (["condense", "random", "--dataset", "digits", "--ipc", "1", "--set", "colour=1"], "no setting 'colour'"),
])
def test_errors_are_one_line_with_a_fix_and_exit_2(home, capsys, monkeypatch, argv, message):
    monkeypatch.setenv("PROXYNAS_DATA", str(home / "no-data"))
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err, err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_executor_options_reach_the_executor():
    import argparse

    from proxynas.cli.options import add_executor_options, executor_from

    p = argparse.ArgumentParser()
    add_executor_options(p)
    p.add_argument("--device", default="auto")
    options = executor_from(p.parse_args(["--executor", "ray", "--max-retries", "5", "--cpus-per-task", "2",
                                          "--gpus-per-task", "0.5", "--ray-address", "auto"]))
    assert (options.name, options.max_retries, options.cpus_per_task, options.gpus_per_task, options.address) == (
        "ray", 5, 2.0, 0.5, "auto")
    assert executor_from(p.parse_args(["--executor", "ray"])).max_retries == 2


def test_device_cuda_without_gpu_is_an_error(home, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    assert main([*SEARCH[:-1], "cuda"]) == 2
    assert "--device cpu" in capsys.readouterr().err


def test_condense_and_space_and_data_commands(home, capsys):
    assert main(["condense", "kcenter", "--dataset", "digits", "--ipc", "2"]) == 0
    assert "kcenter_digits_ipc2: 20 images" in capsys.readouterr().out
    assert main(["condense", "kcenter", "--dataset", "digits", "--ipc", "2"]) == 0
    assert "already in the store" in capsys.readouterr().out
    assert main(["space", "--where", "depth=1", "--where", "act=relu"]) == 0
    assert "dc_convnet: 60 of 720 candidates" in capsys.readouterr().out
    assert main(["space", "--ids"]) == 0
    assert len(capsys.readouterr().out.split()) == 720
    assert main(["data", "list"]) == 0
    assert "fashion_mnist" in capsys.readouterr().out
