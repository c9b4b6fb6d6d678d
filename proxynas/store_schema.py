"""The results store's schema, by version (``PRAGMA user_version``), and the migration of older stores.

Version 0 is the unversioned store of proxynas up to 452aa41: rows keyed by (space, candidate,
trainset name, protocol, seed), ``seconds`` a stack's wall time divided by its models. Version 1 keys
rows by content and regime and stores measured device-seconds (see :mod:`proxynas.store`).

Migrating a version-0 store, in place and in one transaction, every row kept:

- ``trainset_id``: a proxy row takes the fingerprint of the proxy file of its name when that file is
  still in the proxy library and was written before the row finished (a row older than the file was
  trained on a set since remade); otherwise ``legacy:{name}``. Ground-truth rows take
  ``legacy:full_{dataset}`` (which files the data root held then is not known); imported truths
  ``published:{protocol}``, as new imports do.
- ``regime``: 'fp32' for CPU rows, 'bf16' for CUDA rows (the engine's only regimes there at 452aa41:
  no command turned CUDA's bf16 autocast off), 'published' for imported rows.
- ``cost_method``: 'wall/models (v0)': the old ``seconds`` kept as it was, marked as not comparable.

A store of a newer version than this code knows is refused with a one-line error.
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

from proxynas.errors import ProxynasError

log = logging.getLogger(__name__)

VERSION = 1
LEGACY_COST = "wall/models (v0)"

SCHEMA = """
CREATE TABLE IF NOT EXISTS results (
    space       TEXT NOT NULL,
    candidate   TEXT NOT NULL,
    trainset    TEXT NOT NULL,     -- the training set's name, for display: a proxy, or 'full_{dataset}'
    trainset_id TEXT NOT NULL,     -- what it is by content: the tensors' fingerprint (proxynas.identity)
    protocol    TEXT NOT NULL,     -- Protocol.key(): hash of the training settings
    regime      TEXT NOT NULL,     -- numeric regime: fp32, tf32, bf16 ('published' for imported rows)
    seed        INTEGER NOT NULL,
    dataset     TEXT NOT NULL,     -- the dataset whose validation and test splits scored the model
    status      TEXT NOT NULL,     -- 'done' or 'failed'
    val_acc     REAL,
    test_acc    REAL,
    train_loss  REAL,
    seconds     REAL NOT NULL,     -- device-seconds this candidate used, its measured share
    cost_method TEXT NOT NULL,     -- how `seconds` was measured (proxynas.engine.cost)
    epochs      INTEGER NOT NULL,
    reason      TEXT,              -- why it failed
    device      TEXT,
    finished_at REAL NOT NULL,     -- unix time
    step        INTEGER,           -- the training command that stored it (steps.id)
    PRIMARY KEY (space, candidate, trainset_id, protocol, regime, seed)
);
CREATE INDEX IF NOT EXISTS results_by_name ON results (space, trainset);
CREATE TABLE IF NOT EXISTS protocols (
    key  TEXT PRIMARY KEY,
    json TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS retrain (  -- rows a `--fresh` run has yet to replace: pending, though stored
    space       TEXT NOT NULL,
    candidate   TEXT NOT NULL,
    trainset_id TEXT NOT NULL,
    protocol    TEXT NOT NULL,
    regime      TEXT NOT NULL,
    seed        INTEGER NOT NULL,
    PRIMARY KEY (space, candidate, trainset_id, protocol, regime, seed)
);
CREATE TABLE IF NOT EXISTS steps (
    id           INTEGER PRIMARY KEY,
    command      TEXT NOT NULL,    -- 'search', 'truth', 'evaluate', 'study', 'nni', ...
    trainset     TEXT NOT NULL,
    trainset_id  TEXT NOT NULL,
    protocol     TEXT NOT NULL,
    regime       TEXT NOT NULL,
    started      REAL NOT NULL,    -- unix time
    wall_seconds REAL,             -- the command's training wall time (NULL: stopped before the end)
    trained      INTEGER           -- candidates x seeds it trained
);
"""

V0_COLUMNS = ("space", "candidate", "trainset", "protocol", "seed", "dataset", "status", "val_acc", "test_acc",
              "train_loss", "seconds", "epochs", "reason", "device", "finished_at")


def open_schema(db: sqlite3.Connection, path: Path, proxy_dir: Path | None) -> None:
    """Create the current schema in a new store, migrate an older one, refuse a newer one.

    The change is one transaction, taken with the write lock before the version is read again, so two
    processes opening an old store together migrate it once."""
    if _version(db, path) == VERSION:
        return
    db.execute("BEGIN IMMEDIATE")
    try:
        if _version(db, path) < VERSION:
            if [r[1] for r in db.execute("PRAGMA table_info(results)")]:
                migrate_v0(db, proxy_dir)
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)
            db.execute(f"PRAGMA user_version = {VERSION}")
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


def _version(db: sqlite3.Connection, path: Path) -> int:
    version = int(db.execute("PRAGMA user_version").fetchone()[0])
    if version > VERSION:
        raise ProxynasError(f"results store {path} has schema version {version}, newer than this proxynas "
                            f"reads ({VERSION})", "upgrade proxynas, or point PROXYNAS_HOME at another store")
    return version


def migrate_v0(db: sqlite3.Connection, proxy_dir: Path | None) -> None:
    """Copy the version-0 ``results`` table into the version-1 one (inside the caller's transaction)."""
    db.execute("ALTER TABLE results RENAME TO results_v0")
    db.execute(SCHEMA.split(";")[0])  # the new results table
    legacy = db.execute(f"SELECT {', '.join(V0_COLUMNS)} FROM results_v0").fetchall()
    imported = {key for (key,) in db.execute("SELECT key FROM protocols WHERE json LIKE '%\"source\":%'")}
    files: dict[str, tuple[str, float] | None] = {}
    out = []
    for values in legacy:
        row = dict(zip(V0_COLUMNS, values, strict=True))
        name, device = row["trainset"], row["device"] or ""
        if row["protocol"] in imported or device.startswith("imported"):
            identity, regime = f"published:{row['protocol']}", "published"
        else:
            regime = "bf16" if device.startswith("cuda") else "fp32"
            identity = f"legacy:{name}"
            if not name.startswith("full_") and proxy_dir is not None:
                if name not in files:
                    files[name] = _proxy_fingerprint(proxy_dir, name)
                found = files[name]
                if found is not None and row["finished_at"] >= found[1]:
                    identity = found[0]
        out.append({**row, "trainset_id": identity, "regime": regime, "cost_method": LEGACY_COST, "step": None})
    if out:
        cols = list(out[0])
        db.executemany(f"INSERT INTO results ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                       [tuple(r[c] for c in cols) for r in out])
    db.execute("DROP TABLE results_v0")
    log.info("migrated %d rows of a version-0 results store to version %d", len(out), VERSION)


def _proxy_fingerprint(proxy_dir: Path, name: str) -> tuple[str, float] | None:
    """(fingerprint, created) of the proxy file ``name``, or None when there is none or it is unreadable."""
    from proxynas.proxies.library import SUFFIX, read_proxy

    path = proxy_dir / f"{name}{SUFFIX}"
    if not path.is_file():
        return None
    try:
        proxy = read_proxy(path)
    except ProxynasError:
        return None
    return proxy.data.fingerprint(), float(proxy.card.created)
