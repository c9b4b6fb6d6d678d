"""Stored scores of scorers that do not train (zero-cost measures): a table of their own in the results file.

One row per (space, candidate, scorer, settings, batch, seed): ``settings`` is the hash of the scorer's
settings (stored once in ``score_settings``), ``batch`` the content fingerprint of the minibatch it saw
(``none:CxHxW:K`` for data-free scoring: only the input shape and class count matter). Rows are committed
as they are scored, so a killed run resumes where it stopped. The training ``results`` table is untouched.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import astuple, dataclass
from pathlib import Path
from typing import Any

from proxynas.errors import ProxynasError

SCHEMA = """
CREATE TABLE IF NOT EXISTS scores (
    space       TEXT NOT NULL,
    candidate   TEXT NOT NULL,
    scorer      TEXT NOT NULL,
    settings    TEXT NOT NULL,     -- settings_key(): hash of the scorer's settings
    batch       TEXT NOT NULL,     -- fingerprint of the minibatch, or none:CxHxW:K when data-free
    seed        INTEGER NOT NULL,
    dataset     TEXT NOT NULL,     -- the dataset whose training split (or shape) it scored on
    score       REAL,              -- NULL when the measure is undefined for the candidate
    seconds     REAL NOT NULL,
    device      TEXT,
    finished_at REAL NOT NULL,
    PRIMARY KEY (space, candidate, scorer, settings, batch, seed)
);
CREATE TABLE IF NOT EXISTS score_settings (
    key  TEXT PRIMARY KEY,
    json TEXT NOT NULL
);
"""


@dataclass(frozen=True)
class ScoreRow:
    space: str
    candidate: str
    scorer: str
    settings: str
    batch: str
    seed: int
    dataset: str
    score: float | None
    seconds: float
    device: str | None = None
    finished_at: float = 0.0


def settings_key(settings: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]


class ScoreStore:
    """The ``scores`` table of one SQLite file (the results store's, by default)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(self.path, timeout=60)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(SCHEMA)
        except sqlite3.DatabaseError as err:
            raise ProxynasError(f"results store {self.path} cannot be opened: {err}",
                                "move the file away or point PROXYNAS_HOME elsewhere") from None

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> ScoreStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def save_settings(self, settings: dict[str, Any]) -> str:
        key = settings_key(settings)
        with self._db:
            self._db.execute("INSERT OR IGNORE INTO score_settings VALUES (?, ?)",
                             (key, json.dumps(settings, sort_keys=True)))
        return key

    def settings(self, key: str) -> dict[str, Any] | None:
        row = self._db.execute("SELECT json FROM score_settings WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def put(self, rows: Iterable[ScoreRow]) -> None:
        """Insert or replace rows in one commit."""
        now = time.time()
        values = [(*astuple(r)[:-1], r.finished_at or now) for r in rows]
        with self._db:
            self._db.executemany(f"INSERT OR REPLACE INTO scores VALUES ({', '.join('?' * 11)})", values)

    def done(self, space: str, scorer: str, settings: str, batch: str, seed: int) -> set[str]:
        cur = self._db.execute("SELECT candidate FROM scores WHERE space = ? AND scorer = ? AND settings = ? "
                               "AND batch = ? AND seed = ?", (space, scorer, settings, batch, seed))
        return {r[0] for r in cur}

    def rows(self, **where: Any) -> list[ScoreRow]:
        for col in where:
            if col not in ScoreRow.__dataclass_fields__:
                raise ValueError(f"no column {col!r}")
        clause = " AND ".join(f"{c} = ?" for c in where) or "1"
        cur = self._db.execute(f"SELECT * FROM scores WHERE {clause} ORDER BY candidate, seed", tuple(where.values()))
        return [ScoreRow(*r) for r in cur]

    def groups(self, space: str, scorer: str, dataset: str) -> list[tuple[str, str, int, int]]:
        """(settings, batch, seed, rows) stored for a scorer on a dataset, most rows first."""
        cur = self._db.execute("SELECT settings, batch, seed, COUNT(*) AS n FROM scores WHERE space = ? AND "
                               "scorer = ? AND dataset = ? GROUP BY settings, batch, seed ORDER BY n DESC, "
                               "MAX(finished_at) DESC", (space, scorer, dataset))
        return [tuple(r) for r in cur]
