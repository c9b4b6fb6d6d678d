"""Rows name what made them: a remade proxy starts from nothing (issue 18, case 2), regimes are never one
side (case 3), the ground truth is keyed by its split's fingerprint, cached."""

import json
import sqlite3
from dataclasses import replace

import pytest

from proxynas.cli import main
from proxynas.datasets import load_dataset
from proxynas.engine import Protocol
from proxynas.engine.accel import Accel, regime_of
from proxynas.identity import CACHE, split_identity
from proxynas.plans import Plan, TrainingData, pending, train_into_store
from proxynas.store import ResultRow, ResultsStore
from search_spaces import get_space

ARGS = ["--sample", "3", "--epochs", "1", "--device", "cpu"]


def ids(home, trainset):
    with sqlite3.connect(home / "results.sqlite") as db:
        return [r[0] for r in db.execute("SELECT trainset_id FROM results WHERE trainset = ? ORDER BY finished_at",
                                         (trainset,))]


def test_a_remade_proxy_starts_from_nothing_and_the_old_rows_stay_readable(home, capsys):
    assert main(["condense", "random", "--dataset", "digits", "--ipc", "10"]) == 0
    assert main(["search", "--proxy", "random_digits_ipc10", *ARGS]) == 0
    old = set(ids(home, "random_digits_ipc10"))
    assert len(old) == 1 and len(next(iter(old))) == 16
    assert main(["condense", "random", "--dataset", "digits", "--ipc", "10", "--seed", "7", "--fresh"]) == 0
    assert "stay readable" in capsys.readouterr().err
    assert main(["search", "--proxy", "random_digits_ipc10", *ARGS]) == 0
    out = capsys.readouterr()
    assert "0 already in the store, 3 to train" in out.err
    both = ids(home, "random_digits_ipc10")
    assert len(both) == 6 and len(set(both)) == 2
    new = (set(both) - old).pop()
    assert main(["truth", "--dataset", "digits", *ARGS]) == 0
    capsys.readouterr()
    assert main(["correlate", "--truth", "digits", "--proxy", "random_digits_ipc10", "--resamples", "0",
                 "--json"]) == 0
    current = json.loads(capsys.readouterr().out)["comparisons"][0]
    assert (current["trainset_id"], current["regime"], current["candidates"]) == (new, "fp32", 3)
    earlier = f"random_digits_ipc10@{next(iter(old))[:8]}"
    assert main(["correlate", "--truth", "digits", "--proxy", earlier, "--resamples", "0", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["comparisons"][0]["trainset_id"] == next(iter(old))


def test_two_regimes_are_refused_unless_one_is_chosen_or_pooling_asked(home, capsys):
    with ResultsStore(home / "results.sqlite") as store:
        store.save_protocol("p", {"epochs": 5})
        for i, cand in enumerate(["d1_w32_relu_none_none", "d2_w32_relu_none_none", "d3_w32_relu_none_none"]):
            for regime in ("fp32", "bf16"):
                acc = 0.5 + 0.1 * i
                store.put(ResultRow("dc_convnet", cand, "full_digits", "p", 0, "digits", "done", acc, acc, 1.0,
                                    2.0, 5, trainset_id="published:x", regime=regime))
                store.put(ResultRow("dc_convnet", cand, "herding_digits_ipc5", "p", 0, "digits", "done", acc, acc,
                                    1.0, 1.0, 5, trainset_id="0123456789abcdef", regime=regime))
    base = ["correlate", "--truth", "digits", "--proxy", "herding_digits_ipc5", "--resamples", "0"]
    assert main(base) == 2
    err = capsys.readouterr().err.strip()
    assert "several numeric regimes: bf16 (3 rows), fp32 (3 rows)" in err and len(err.splitlines()) == 1
    assert main([*base, "--regime", "bf16"]) == 0
    out = capsys.readouterr().out
    assert "regime bf16" in out and "(01234567, bf16)" in out
    assert main([*base, "--pool-regimes", "--json"]) == 0
    pooled = json.loads(capsys.readouterr().out)
    assert pooled["truth"]["regime"] == pooled["comparisons"][0]["regime"] == "bf16+fp32"


def test_rows_of_another_regime_are_not_done_in_this_one(home, digits):
    space = get_space("dc_convnet")
    plan = Plan(space, space.sample(2, 0, width=[32]), Protocol(epochs=1, batch_size=64), 1, "full_digits",
                "digits", fingerprint=split_identity(digits))
    data = TrainingData(digits.train, digits.val, digits.test)
    with ResultsStore(home / "results.sqlite") as store:
        bf16 = Accel(bf16=True)
        assert regime_of(bf16, digits.train.device) == "bf16" and regime_of(None, digits.train.device) == "fp32"
        assert len(train_into_store(plan, store, data, accel=bf16, max_models=1)) == 2
        assert {r.regime for r in store.rows()} == {"bf16"}
        assert pending(replace(plan, regime="fp32"), store) == plan.jobs()  # the fp32 side has nothing yet
        assert pending(replace(plan, regime="bf16"), store) == []
        assert len(train_into_store(plan, store, data, max_models=1)) == 2
        assert sorted(r.regime for r in store.rows()) == ["bf16", "bf16", "fp32", "fp32"]


def test_the_split_fingerprint_is_cached_by_the_files_it_was_read_from(home):
    digits = load_dataset("digits")
    fingerprint = split_identity(digits)
    assert fingerprint == digits.train.fingerprint()
    cache = json.loads((home / CACHE).read_text())
    [entry] = cache.values()
    entry["fingerprint"] = "cached"
    (home / CACHE).write_text(json.dumps(cache))
    assert split_identity(digits) == "cached"  # files unchanged: not hashed again
    entry["files"][0][1] += 1  # a file of another size: hashed again
    (home / CACHE).write_text(json.dumps(cache))
    assert split_identity(digits) == fingerprint


@pytest.mark.parametrize("spec", ["digits@legacy", "digits@ffff"])
def test_an_identity_that_is_not_stored_is_a_one_line_error(home, capsys, spec):
    with ResultsStore(home / "results.sqlite") as store:
        store.put(ResultRow("dc_convnet", "d1_w32_relu_none_none", "full_digits", "p", 0, "digits", "done", 0.5,
                            0.5, 1.0, 1.0, 5, trainset_id="abcdef0123456789"))
    assert main(["correlate", "--truth", spec, "--baseline", "early_stopping", "--resamples", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert "no ground truth for digits@" in err and "abcdef01 (1 rows)" in err and len(err.splitlines()) == 1


def test_a_side_of_one_regime_is_used_as_it_is_and_the_table_names_both(home, capsys):
    with ResultsStore(home / "results.sqlite") as store:
        store.save_protocol("p", {"epochs": 5})
        for i, cand in enumerate(["d1_w32_relu_none_none", "d2_w32_relu_none_none", "d3_w32_relu_none_none"]):
            acc = 0.5 + 0.1 * i
            store.put(ResultRow("dc_convnet", cand, "full_digits", "p", 0, "digits", "done", acc, acc, 1.0, 2.0, 5,
                                trainset_id="published:y", regime="fp32"))
            for regime in ("fp32", "bf16"):
                store.put(ResultRow("dc_convnet", cand, "herding_digits_ipc5", "p", 0, "digits", "done", acc, acc,
                                    1.0, 1.0, 5, trainset_id="0123456789abcdef", regime=regime))
    assert main(["correlate", "--truth", "digits", "--proxy", "herding_digits_ipc5", "--resamples", "0",
                 "--regime", "bf16"]) == 0
    out = capsys.readouterr().out
    assert "(published:y, regime fp32)" in out and "(01234567, bf16)" in out
