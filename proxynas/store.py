"""The results store: one SQLite row per trained (space, candidate, training set, protocol, regime, seed).

A row names its training set by content (``trainset_id``, the fingerprint of the tensors trained on:
:mod:`proxynas.identity`), not by the proxy's name, which it keeps for display (``trainset``): a
remade proxy starts from nothing and its predecessor's rows stay readable under the old fingerprint.
The numeric regime (fp32, tf32, bf16) is part of the key too, so rows trained in different precisions
are never one side. ``seconds`` is the device-seconds the candidate used (``cost_method`` says how it
was measured); ``steps`` holds each training command's wall time.

Rows are committed one by one as candidates finish, so a killed run keeps its work and a rerun
skips it. WAL mode lets several processes (a search and an NNI trial, say) share one file. The schema
is versioned (``PRAGMA user_version``, :mod:`proxynas.store_schema`); an older store is migrated in place.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from proxynas.errors import ProxynasError
from proxynas.store_schema import open_schema


@dataclass(frozen=True)
class ResultRow:
    space: str
    candidate: str
    trainset: str  # the training set's name, for display: a proxy name or 'full_{dataset}'
    protocol: str
    seed: int
    dataset: str
    status: str
    val_acc: float | None
    test_acc: float | None
    train_loss: float | None
    seconds: float  # device-seconds this candidate used (see cost_method)
    epochs: int
    reason: str | None = None
    device: str | None = None
    finished_at: float = 0.0
    trainset_id: str = ""  # content identity (proxynas.identity); '' stores 'name:{trainset}'
    regime: str = "fp32"  # numeric regime: fp32, tf32, bf16 (published: an imported truth)
    cost_method: str = ""  # how `seconds` was measured (engine.cost)
    step: int | None = None  # the training command (steps table) that stored it

    @property
    def identity(self) -> str:
        return self.trainset_id or name_identity(self.trainset)


def name_identity(trainset: str) -> str:
    """The identity of a training set known only by name (library callers that pass no fingerprint)."""
    return f"name:{trainset}"


DISK_TROUBLE = ("disk is full", "disk i/o error", "readonly database", "unable to open")


def disk_trouble(err: sqlite3.Error) -> bool:
    """An error of the disk under the store (full, failing, read-only), not of the store's content."""
    return any(words in str(err).lower() for words in DISK_TROUBLE)


def store_error(err: sqlite3.Error, path: Path, done: str) -> ProxynasError:
    try:
        free = f"{shutil.disk_usage(path.parent).free / 1024:,.0f} KiB free on its disk"
    except OSError:
        free = "its disk cannot be read"
    rolled = "; this change was rolled back" if done == "written" else ""
    return ProxynasError(f"results store {path} cannot be {done}: {err} ({free}; what the store held is kept{rolled})",
                         f"free space on the disk holding {path.parent} or check it, then rerun the command: it "
                         "resumes from what is stored")


def truth_trainset(dataset: str) -> str:
    """The display name of ground-truth (full training split) rows."""
    return f"full_{dataset}"


@dataclass(frozen=True)
class Group:
    """Rows of one training set (by content) under one protocol and regime."""

    trainset: str
    trainset_id: str
    protocol: str
    regime: str
    dataset: str
    count: int
    last: float  # the latest finished_at


class ResultsStore:
    """A thin, explicit layer over one SQLite file.

    ``proxy_dir``: where the proxy files are, used once when a store written before schema versioning
    is migrated (its rows then take the fingerprint of the proxy file they were trained on).
    """

    def __init__(self, path: str | Path, proxy_dir: str | Path | None = None) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(self.path, timeout=60)
            self._db.execute("PRAGMA journal_mode=WAL")
            open_schema(self._db, self.path, None if proxy_dir is None else Path(proxy_dir))
        except sqlite3.DatabaseError as err:
            if disk_trouble(err):
                raise store_error(err, self.path, "opened") from None
            raise ProxynasError(f"results store {self.path} cannot be opened: {err}",
                                "move the file away or point PROXYNAS_HOME elsewhere") from None
        self._db.row_factory = sqlite3.Row

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> ResultsStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One transaction: committed whole, or rolled back whole (a full disk, say: nothing stored is lost)."""
        try:
            with self._db:
                yield self._db
        except sqlite3.OperationalError as err:
            if disk_trouble(err):
                raise store_error(err, self.path, "written") from None
            raise

    def save_protocol(self, key: str, settings: dict[str, Any]) -> None:
        with self._tx() as db:
            db.execute("INSERT OR IGNORE INTO protocols VALUES (?, ?)", (key, json.dumps(settings, sort_keys=True)))

    def protocol(self, key: str) -> dict[str, Any] | None:
        row = self._db.execute("SELECT json FROM protocols WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    @staticmethod
    def _values(row: ResultRow, now: float) -> dict[str, Any]:
        return asdict(row) | {"finished_at": row.finished_at or now, "trainset_id": row.identity}

    def put(self, row: ResultRow) -> None:
        """Insert or replace one row and commit it at once."""
        values = self._values(row, time.time())
        cols = ", ".join(values)
        marks = ", ".join("?" for _ in values)
        with self._tx() as db:
            db.execute(f"INSERT OR REPLACE INTO results ({cols}) VALUES ({marks})", tuple(values.values()))
            db.execute("DELETE FROM retrain WHERE space = ? AND candidate = ? AND trainset_id = ? AND protocol = ? "
                       "AND regime = ? AND seed = ?",
                       (row.space, row.candidate, values["trainset_id"], row.protocol, values["regime"], row.seed))

    def mark_retrain(self, space: str, trainset_id: str, protocol: str, regime: str,
                     keys: Iterable[tuple[str, int]]) -> None:
        """Mark stored (candidate, seed) rows as to be retrained (``--fresh``): they stay readable until a
        new row replaces each (``put``), and :meth:`finished` no longer counts them, so a run killed
        half-way retrains the rest when it is resumed."""
        with self._tx() as db:
            db.executemany("INSERT OR IGNORE INTO retrain VALUES (?, ?, ?, ?, ?, ?)",
                           [(space, c, trainset_id, protocol, regime, s) for c, s in keys])

    def replace_protocol_rows(self, space: str, trainset_id: str, protocol: str, settings: dict[str, Any],
                              rows: Iterable[ResultRow]) -> None:
        """In one transaction: drop the rows of (space, trainset_id, protocol), store its settings, add ``rows``
        (an imported ground truth replaces its earlier import)."""
        now = time.time()
        with self._tx() as db:
            db.execute("DELETE FROM results WHERE space = ? AND trainset_id = ? AND protocol = ?",
                       (space, trainset_id, protocol))
            db.execute("INSERT OR REPLACE INTO protocols VALUES (?, ?)",
                       (protocol, json.dumps(settings, sort_keys=True)))
            for row in rows:
                values = self._values(row, now)
                db.execute(f"INSERT INTO results ({', '.join(values)}) VALUES ({', '.join('?' * len(values))})",
                           tuple(values.values()))

    def finished(self, space: str, trainset_id: str, protocol: str, regime: str | None = None) -> set[tuple[str, int]]:
        """(candidate, seed) pairs already stored for this space, training set, protocol (and regime), less
        those a ``--fresh`` run has marked to retrain and not replaced yet."""
        where = "space = ? AND trainset_id = ? AND protocol = ?"
        args: tuple[Any, ...] = (space, trainset_id, protocol)
        if regime is not None:
            where, args = where + " AND regime = ?", (*args, regime)
        rows = self._db.execute(f"SELECT candidate, seed FROM results WHERE {where}", args)
        marked = self._db.execute(f"SELECT candidate, seed FROM retrain WHERE {where}", args)
        return {(r[0], r[1]) for r in rows} - {(r[0], r[1]) for r in marked}

    def delete(self, space: str, trainset_id: str, protocol: str, keys: Iterable[tuple[str, int]],
               regime: str | None = None) -> None:
        q = ("DELETE FROM results WHERE space = ? AND trainset_id = ? AND protocol = ? AND candidate = ? "
             "AND seed = ?")
        if regime is not None:
            q += " AND regime = ?"
        tail = () if regime is None else (regime,)
        with self._tx() as db:
            db.executemany(q, [(space, trainset_id, protocol, c, s, *tail) for c, s in keys])

    def rows(self, **where: Any) -> list[ResultRow]:
        """Rows matching column = value filters, e.g. ``rows(space="dc_convnet", trainset_id=fp)``."""
        for col in where:
            if col not in ResultRow.__dataclass_fields__:
                raise ValueError(f"no column {col!r}")
        clause = " AND ".join(f"{c} = ?" for c in where) or "1"
        cur = self._db.execute(f"SELECT * FROM results WHERE {clause} ORDER BY candidate, seed, regime",
                               tuple(where.values()))
        return [ResultRow(**dict(r)) for r in cur]

    def groups(self, space: str | None = None, trainset: str | None = None) -> list[Group]:
        """The (training set by content, protocol, regime) groups, optionally of one space and display name."""
        clauses, args = [], []
        for col, value in (("space", space), ("trainset", trainset)):
            if value is not None:
                clauses.append(f"{col} = ?")
                args.append(value)
        q = ("SELECT trainset, trainset_id, protocol, regime, dataset, COUNT(*), MAX(finished_at) FROM results"
             + (" WHERE " + " AND ".join(clauses) if clauses else "")
             + " GROUP BY trainset, trainset_id, protocol, regime, dataset ORDER BY trainset, MAX(finished_at)")
        return [Group(*r) for r in self._db.execute(q, tuple(args))]

    def trainsets(self, space: str | None = None) -> list[tuple[str, str, str, int]]:
        """(trainset name, protocol, dataset, row count) groups in the store (all identities and regimes)."""
        q = "SELECT trainset, protocol, dataset, COUNT(*) FROM results"
        args: tuple[Any, ...] = ()
        if space:
            q += " WHERE space = ?"
            args = (space,)
        q += " GROUP BY trainset, protocol, dataset ORDER BY trainset"
        return [tuple(r) for r in self._db.execute(q, args)]

    def begin_step(self, command: str, trainset: str, trainset_id: str, protocol: str, regime: str) -> int:
        """Record a training command starting; returns its id (rows it stores carry it)."""
        with self._tx() as db:
            cur = db.execute("INSERT INTO steps (command, trainset, trainset_id, protocol, regime, started) "
                             "VALUES (?, ?, ?, ?, ?, ?)", (command, trainset, trainset_id, protocol, regime,
                                                            time.time()))
        return int(cur.lastrowid or 0)

    def end_step(self, step: int, wall_seconds: float, trained: int) -> None:
        with self._tx() as db:
            db.execute("UPDATE steps SET wall_seconds = ?, trained = ? WHERE id = ?", (wall_seconds, trained, step))

    def steps(self, **where: Any) -> list[dict[str, Any]]:
        """Training commands run against this store (wall time, rows trained), oldest first."""
        clause = " AND ".join(f"{c} = ?" for c in where) or "1"
        cur = self._db.execute(f"SELECT * FROM steps WHERE {clause} ORDER BY id", tuple(where.values()))
        return [dict(r) for r in cur]
