"""A store written by proxynas 452aa41 (tests/fixtures/store_452aa41, made by real commands: its README)
is migrated in place to the versioned schema, every row kept with its new identity, regime and cost."""

import shutil
import sqlite3
from pathlib import Path

import pytest

from proxynas.errors import ProxynasError
from proxynas.proxies.library import read_proxy
from proxynas.store import ResultsStore
from proxynas.store_schema import LEGACY_COST, VERSION

FIXTURE = Path(__file__).parent / "fixtures" / "store_452aa41"
KEPT = ("space", "candidate", "trainset", "protocol", "seed", "dataset", "status", "val_acc", "test_acc",
        "train_loss", "seconds", "epochs", "reason", "device", "finished_at")


@pytest.fixture
def old_store(tmp_path):
    shutil.copytree(FIXTURE, tmp_path / "home")
    return tmp_path / "home"


def v0_rows(path):
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 0
        return {(r[0], r[1], r[2], r[3], r[4]): r for r in db.execute(f"SELECT {', '.join(KEPT)} FROM results")}


def test_every_row_survives_with_its_new_keys(old_store):
    path = old_store / "results.sqlite"
    before = v0_rows(path)
    assert len(before) == 17
    fingerprint = read_proxy(old_store / "proxies" / "random_digits_ipc10.safetensors").data.fingerprint()
    with ResultsStore(path, old_store / "proxies") as store:
        rows = store.rows()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == VERSION
    assert len(rows) == len(before)
    expected_id = {"random_digits_ipc10": fingerprint, "herding_digits_ipc5": "legacy:herding_digits_ipc5",
                   "full_digits": "legacy:full_digits"}
    for r in rows:
        old = before[(r.space, r.candidate, r.trainset, r.protocol, r.seed)]
        assert tuple(getattr(r, c) for c in KEPT) == old  # nothing measured is changed
        assert r.cost_method == LEGACY_COST and r.step is None
        if r.protocol.startswith("csv:"):
            assert (r.trainset_id, r.regime) == ("published:csv:dc_convnet:digits:paperx", "published")
        else:
            assert (r.trainset_id, r.regime) == (expected_id[r.trainset], "fp32")
    assert sum(r.status == "failed" for r in rows) == 1


def test_a_row_older_than_its_proxy_file_takes_the_legacy_identity(old_store):
    path = old_store / "results.sqlite"
    with sqlite3.connect(path) as db:  # as if the file had been remade after this row was trained
        db.execute("UPDATE results SET finished_at = 1.0 WHERE trainset = 'random_digits_ipc10' AND "
                   "candidate = 'd3_w64_relu_instancenorm_maxpool'")
    with ResultsStore(path, old_store / "proxies") as store:
        ids = {r.candidate: r.trainset_id for r in store.rows(trainset="random_digits_ipc10")}
    assert ids["d3_w64_relu_instancenorm_maxpool"] == "legacy:random_digits_ipc10"
    others = {i for c, i in ids.items() if c != "d3_w64_relu_instancenorm_maxpool"}
    assert len(others) == 1 and not others.pop().startswith("legacy:")  # the rest: the file's fingerprint


def test_migration_runs_once_and_new_rows_join(old_store):
    path = old_store / "results.sqlite"
    with ResultsStore(path, old_store / "proxies") as store:
        first = store.rows()
    with ResultsStore(path) as store:  # opened again (without a proxy dir): nothing changes
        assert store.rows() == first


def test_a_newer_store_is_a_one_line_error(tmp_path):
    path = tmp_path / "results.sqlite"
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {VERSION + 1}")
    with pytest.raises(ProxynasError, match=f"schema version {VERSION + 1}, newer") as err:
        ResultsStore(path)
    assert "\n" not in str(err.value)
