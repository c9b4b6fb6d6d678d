"""Helpers of the resume tests: run a command and SIGKILL it once its results store holds some rows."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path


def stored_rows(db: Path) -> int:
    """Rows in the results store ``db`` (0 while it does not exist or has no table yet)."""
    if not db.exists():
        return 0
    try:
        return sqlite3.connect(db).execute("SELECT COUNT(*) FROM results").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def kill_once_stored(argv: Sequence[str], env: Mapping[str, str], db: Path, rows: int, timeout: float) -> int:
    """Start ``argv``, SIGKILL it as soon as ``db`` holds ``rows`` rows (or after ``timeout`` seconds)
    and return the rows stored by then."""
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + timeout
        while time.time() < deadline and stored_rows(db) < rows:
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    return stored_rows(db)
