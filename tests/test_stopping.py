"""Stopping a training run (SIGINT, SIGTERM) keeps every finished result, and ``--fresh`` deletes
nothing up front: real commands in subprocesses, signalled as a user's Ctrl-C or a scheduler's
SIGTERM, and the results store read afterwards."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from kill_support import stored_rows

from proxynas.engine import Protocol
from proxynas.engine.executors import SerialExecutor
from proxynas.engine.stopping import Interrupted, StopRequest
from proxynas.plans import Plan, TrainingData, pending, plan_rows, train_into_store
from proxynas.proxies.library import ProxyLibrary
from proxynas.store import ResultsStore
from search_spaces import get_space

# 6 candidates, one per stack, two stacks side by side: a stack takes seconds on a loaded 2-core CPU
SLOW = ["search", "--proxy", "random_digits_ipc10", "--sample", "6", "--where", "width=32", "--device", "cpu",
        "--stack", "1", "--workers", "2"]


def start(argv: list[str], home: Path) -> tuple[subprocess.Popen, list[str]]:
    """Start ``proxynas ARGV`` and collect its stderr lines in a list, as they come."""
    env = {**os.environ, "PROXYNAS_HOME": str(home)}
    proc = subprocess.Popen([sys.executable, "-m", "proxynas", *argv], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, preexec_fn=default_signals)
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(proc.stderr), daemon=True).start()
    return proc, lines


def default_signals() -> None:
    """In the child: SIGINT as a terminal's Ctrl-C finds it (a shell's background job starts it ignored)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def make_proxy(home: Path, digits) -> None:
    from condensed.make import make_proxy as make

    make(ProxyLibrary(home / "proxies"), "random", digits, 10)


def test_first_signal_finishes_the_running_stacks_and_stores_them(home, digits):
    sig = signal.SIGINT  # SIGTERM is handled alike (the next test)
    make_proxy(home, digits)
    db = home / "results.sqlite"
    proc, lines = start([*SLOW, "--epochs", "200"], home)
    try:
        wait_for(lambda: stored_rows(db) >= 1, 240, "the first stored row")
        at_signal = stored_rows(db)
        proc.send_signal(sig)
        code = proc.wait(timeout=240)
    finally:
        proc.kill()
    text = "".join(lines)
    rows = stored_rows(db)
    assert code == 128 + sig, text
    assert f"{sig.name}: finishing the" in text, text
    # the stack the other worker was training finished and was stored, not thrown away; nothing new started
    assert at_signal < rows < 6, text
    assert f"stopped by {sig.name}: {rows} result(s) of this run stored, {6 - rows} not trained" in text


def test_second_signal_stops_within_seconds(home, digits):
    make_proxy(home, digits)
    proc, lines = start([*SLOW, "--epochs", "100000"], home)  # a stack would take hours
    try:
        wait_for(lambda: any("to train" in line for line in lines), 120, "the training to start")
        time.sleep(3)  # the stacks are built and training
        proc.send_signal(signal.SIGTERM)
        wait_for(lambda: any("finishing the" in line for line in lines), 30, "the first signal's message")
        asked = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        wait_for(lambda: any("stopped by" in line for line in lines), 60, "the stop")
        took = time.monotonic() - asked
        code = proc.wait(timeout=60)
    finally:
        proc.kill()
    text = "".join(lines)
    assert code == 128 + signal.SIGTERM, text
    assert "SIGTERM again: stopping now" in text and "0 result(s) of this run stored, 6 not trained" in text
    # measured 0.2 s under a load of 15 on 2 cores (then 6 s for the interpreter to exit); the bound
    # leaves room for a stack still measuring its CPU layout, which no step check interrupts
    assert took < 30, f"took {took:.1f} s to stop after the second SIGTERM"
    assert stored_rows(home / "results.sqlite") == 0


def tiny_plan(digits, epochs: int = 1) -> Plan:
    space = get_space("dc_convnet")
    candidates = [space.parse(f"d1_w32_relu_{norm}_avgpool") for norm in ("none", "batchnorm", "instancenorm")]
    return Plan(space, candidates, Protocol(epochs=epochs), seeds=1, trainset="tiny_digits", dataset="digits")


def test_fresh_replaces_rows_as_they_come_and_a_stopped_fresh_run_resumes(home, digits, tmp_path):
    """``--fresh`` deletes nothing up front; stopped after one new row, the other two old rows are still
    readable but pending, and a plain rerun retrains exactly those."""
    plan = tiny_plan(digits)
    data = TrainingData(digits.train, digits.val, digits.test)
    with ResultsStore(tmp_path / "results.sqlite") as store:
        train_into_store(plan, store, data, executor=SerialExecutor(), max_models=1)
        old = {(r.candidate, r.seed): r.finished_at for r in plan_rows(store, plan)}
        assert len(old) == 3
        stop = StopRequest(notify=lambda message: None)
        with pytest.raises(Interrupted) as stopped:
            train_into_store(plan, store, data, executor=SerialExecutor(), max_models=1, fresh=True, stop=stop,
                             on_outcome=lambda outcome: stop.finish("a test"))
        assert (stopped.value.stored, stopped.value.unfinished) == (1, 2)
        rows = {(r.candidate, r.seed): r.finished_at for r in plan_rows(store, plan)}
        assert rows.keys() == old.keys()  # nothing deleted
        replaced = [key for key in rows if rows[key] != old[key]]
        assert len(replaced) == 1
        todo = {(j.candidate.id, j.seed) for j in pending(plan, store)}
        assert todo == old.keys() - set(replaced)  # the resume retrains the two not yet replaced
        train_into_store(plan, store, data, executor=SerialExecutor(), max_models=1)
        assert pending(plan, store) == []
        final = {(r.candidate, r.seed): r.finished_at for r in plan_rows(store, plan)}
        assert final[replaced[0]] == rows[replaced[0]] and all(final[k] != old[k] for k in old)


def test_fresh_with_an_executor_that_cannot_start_deletes_nothing(home):
    pytest.importorskip("ray")
    env = {**os.environ, "PROXYNAS_HOME": str(home)}
    base = [sys.executable, "-m", "proxynas", "search", "--proxy", "random_digits_ipc5", "--sample", "2",
            "--epochs", "1", "--device", "cpu"]
    subprocess.run(base, env=env, check=True, capture_output=True)
    db = home / "results.sqlite"
    before = sqlite3.connect(db).execute("SELECT candidate, finished_at FROM results ORDER BY 1").fetchall()
    # one connection attempt, not Ray's 20 (each waits 30 s or more for a cluster that is not there)
    quick = {**env, "RAY_gcs_server_port_wait_time_s": "1"}
    failed = subprocess.run([*base, "--fresh", "--executor", "ray", "--ray-address", "127.0.0.1:9"], env=quick,
                            capture_output=True, text=True, timeout=300)
    assert failed.returncode == 2, failed.stderr
    assert "cannot start or join the Ray cluster at '127.0.0.1:9'" in failed.stderr
    after = sqlite3.connect(db).execute("SELECT candidate, finished_at FROM results ORDER BY 1").fetchall()
    assert after == before and len(after) == 2
    again = subprocess.run(base, env=env, capture_output=True, text=True, check=True)
    assert "2 already in the store, 0 to train" in again.stderr
