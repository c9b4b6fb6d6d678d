"""The results store: one SQLite row per trained (space, candidate, training set, protocol, seed).

Rows are committed one by one as candidates finish, so a killed run keeps its work and a rerun
skips it. WAL mode lets several processes (a search and an NNI trial, say) share one file.
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

SCHEMA = """
CREATE TABLE IF NOT EXISTS results (
    space       TEXT NOT NULL,
    candidate   TEXT NOT NULL,
    trainset    TEXT NOT NULL,     -- a proxy name, or 'full_{dataset}' for the ground truth
    protocol    TEXT NOT NULL,     -- Protocol.key(): hash of the training settings
    seed        INTEGER NOT NULL,
    dataset     TEXT NOT NULL,     -- the dataset whose validation and test splits scored the model
    status      TEXT NOT NULL,     -- 'done' or 'failed'
    val_acc     REAL,
    test_acc    REAL,
    train_loss  REAL,
    seconds     REAL NOT NULL,     -- this candidate's share of the training wall time
    epochs      INTEGER NOT NULL,
    reason      TEXT,              -- why it failed
    device      TEXT,
    finished_at REAL NOT NULL,     -- unix time
    PRIMARY KEY (space, candidate, trainset, protocol, seed)
);
CREATE TABLE IF NOT EXISTS retrain (  -- rows a `--fresh` run has yet to replace: pending, though stored
    space       TEXT NOT NULL,
    candidate   TEXT NOT NULL,
    trainset    TEXT NOT NULL,
    protocol    TEXT NOT NULL,
    seed        INTEGER NOT NULL,
    PRIMARY KEY (space, candidate, trainset, protocol, seed)
);
CREATE TABLE IF NOT EXISTS protocols (
    key  TEXT PRIMARY KEY,
    json TEXT NOT NULL
);
"""


@dataclass(frozen=True)
class ResultRow:
    space: str
    candidate: str
    trainset: str
    protocol: str
    seed: int
    dataset: str
    status: str
    val_acc: float | None
    test_acc: float | None
    train_loss: float | None
    seconds: float
    epochs: int
    reason: str | None = None
    device: str | None = None
    finished_at: float = 0.0


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
    """The training-set name under which ground-truth (full training split) rows are stored."""
    return f"full_{dataset}"


class ResultsStore:
    """A thin, explicit layer over one SQLite file."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(self.path, timeout=60)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(SCHEMA)
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

    def put(self, row: ResultRow) -> None:
        """Insert or replace one row and commit it at once."""
        values = asdict(row)
        values["finished_at"] = row.finished_at or time.time()
        cols = ", ".join(values)
        marks = ", ".join("?" for _ in values)
        with self._tx() as db:
            db.execute(f"INSERT OR REPLACE INTO results ({cols}) VALUES ({marks})", tuple(values.values()))
            db.execute("DELETE FROM retrain WHERE space = ? AND candidate = ? AND trainset = ? AND protocol = ? "
                       "AND seed = ?", (row.space, row.candidate, row.trainset, row.protocol, row.seed))

    def mark_retrain(self, space: str, trainset: str, protocol: str, keys: Iterable[tuple[str, int]]) -> None:
        """Mark stored (candidate, seed) rows as to be retrained (``--fresh``): they stay readable until a
        new row replaces each (``put``), and :meth:`finished` no longer counts them, so a run killed
        half-way retrains the rest when it is resumed."""
        with self._tx() as db:
            db.executemany("INSERT OR IGNORE INTO retrain VALUES (?, ?, ?, ?, ?)",
                           [(space, c, trainset, protocol, s) for c, s in keys])

    def replace_protocol_rows(self, space: str, trainset: str, protocol: str, settings: dict[str, Any],
                              rows: Iterable[ResultRow]) -> None:
        """In one transaction: drop the rows of (space, trainset, protocol), store its settings, add ``rows``
        (an imported ground truth replaces its earlier import)."""
        now = time.time()
        with self._tx() as db:
            db.execute("DELETE FROM results WHERE space = ? AND trainset = ? AND protocol = ?",
                       (space, trainset, protocol))
            db.execute("INSERT OR REPLACE INTO protocols VALUES (?, ?)",
                       (protocol, json.dumps(settings, sort_keys=True)))
            for row in rows:
                values = asdict(row) | {"finished_at": row.finished_at or now}
                db.execute(f"INSERT INTO results ({', '.join(values)}) VALUES ({', '.join('?' * len(values))})",
                           tuple(values.values()))

    def finished(self, space: str, trainset: str, protocol: str) -> set[tuple[str, int]]:
        """(candidate, seed) pairs already stored for this space, training set and protocol (less those a
        ``--fresh`` run has marked to retrain and not replaced yet)."""
        rows = self._db.execute(
            "SELECT candidate, seed FROM results WHERE space = ? AND trainset = ? AND protocol = ?",
            (space, trainset, protocol))
        marked = self._db.execute(
            "SELECT candidate, seed FROM retrain WHERE space = ? AND trainset = ? AND protocol = ?",
            (space, trainset, protocol))
        return {(r[0], r[1]) for r in rows} - {(r[0], r[1]) for r in marked}

    def delete(self, space: str, trainset: str, protocol: str, keys: Iterable[tuple[str, int]]) -> None:
        with self._tx() as db:
            db.executemany(
                "DELETE FROM results WHERE space = ? AND trainset = ? AND protocol = ? AND candidate = ? AND seed = ?",
                [(space, trainset, protocol, c, s) for c, s in keys])

    def rows(self, **where: Any) -> list[ResultRow]:
        """Rows matching column = value filters, e.g. ``rows(space="dc_convnet", trainset="full_digits")``."""
        for col in where:
            if col not in ResultRow.__dataclass_fields__:
                raise ValueError(f"no column {col!r}")
        clause = " AND ".join(f"{c} = ?" for c in where) or "1"
        cur = self._db.execute(f"SELECT * FROM results WHERE {clause} ORDER BY candidate, seed",
                               tuple(where.values()))
        return [ResultRow(**dict(r)) for r in cur]

    def trainsets(self, space: str | None = None) -> list[tuple[str, str, str, int]]:
        """(trainset, protocol, dataset, row count) groups in the store."""
        q = "SELECT trainset, protocol, dataset, COUNT(*) FROM results"
        args: tuple[Any, ...] = ()
        if space:
            q += " WHERE space = ?"
            args = (space,)
        q += " GROUP BY trainset, protocol, dataset ORDER BY trainset"
        return [tuple(r) for r in self._db.execute(q, args)]
