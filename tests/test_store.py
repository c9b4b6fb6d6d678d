import sqlite3

import pytest

from proxynas.errors import ProxynasError
from proxynas.store import ResultRow, ResultsStore, truth_trainset


def row(candidate="d1_w32_relu_none_none", seed=0, **kw):
    values = dict(space="dc_convnet", candidate=candidate, trainset="random_digits_ipc10", protocol="abc",
                  seed=seed, dataset="digits", status="done", val_acc=0.5, test_acc=0.4, train_loss=1.0,
                  seconds=1.0, epochs=3, trainset_id="0123456789abcdef")
    values.update(kw)
    return ResultRow(**values)


def test_rows_round_trip_and_replace(tmp_path):
    with ResultsStore(tmp_path / "r.sqlite") as store:
        store.put(row())
        store.put(row(seed=1, val_acc=0.7))
        store.put(row(val_acc=0.9))  # same key: replaced, not duplicated
        rows = store.rows(space="dc_convnet")
        assert [(r.seed, r.val_acc) for r in rows] == [(0, 0.9), (1, 0.7)]
        assert store.finished("dc_convnet", "0123456789abcdef", "abc") == {("d1_w32_relu_none_none", 0),
                                                                             ("d1_w32_relu_none_none", 1)}
        assert store.finished("dc_convnet", "0123456789abcdef", "other") == set()


def test_wal_mode_and_a_second_process_sees_committed_rows(tmp_path):
    path = tmp_path / "r.sqlite"
    with ResultsStore(path) as store:
        store.put(row())
        other = sqlite3.connect(path)
        assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert other.execute("SELECT COUNT(*) FROM results").fetchone()[0] == 1


def test_protocols_and_trainsets(tmp_path):
    with ResultsStore(tmp_path / "r.sqlite") as store:
        store.save_protocol("abc", {"epochs": 3})
        store.put(row())
        store.put(row(trainset=truth_trainset("digits"), trainset_id="fedcba9876543210"))
        assert store.protocol("abc") == {"epochs": 3}
        assert store.protocol("nope") is None
        assert [t[0] for t in store.trainsets("dc_convnet")] == ["full_digits", "random_digits_ipc10"]
        store.delete("dc_convnet", "fedcba9876543210", "abc", [("d1_w32_relu_none_none", 0)])
        assert len(store.rows()) == 1
        with pytest.raises(ValueError):
            store.rows(colour="red")


def test_a_damaged_store_is_a_clear_error(tmp_path):
    path = tmp_path / "r.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(ProxynasError, match="cannot be opened"):
        ResultsStore(path)
