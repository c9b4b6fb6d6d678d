"""``--executor ray`` on a real local Ray: 2 CPUs, started once by this module and shut down after.

A search through Ray equals the local one candidate for candidate (bitwise: one model per stack on
the CPU); a worker process killed with SIGKILL mid-task is retried and every row is stored once; when
the retries run out the error names the lost candidates after the rest is stored, and a rerun trains
only what is missing; the CLI works end to end in a subprocess.
"""

from __future__ import annotations

import io
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch
from kill_support import stored_rows
from torch import nn

from proxynas.engine import Accel, Protocol
from proxynas.engine.executors import ExecutorOptions, make_executor
from proxynas.errors import ProxynasError
from proxynas.plans import Plan, TrainingData, train_into_store
from proxynas.store import ResultsStore
from search_spaces import get_space

ray = pytest.importorskip("ray")
from proxynas.scaleout.cluster import TaskShape, task_shape  # noqa: E402  (needs ray)
from proxynas.scaleout.plugin import RayOptions  # noqa: E402

SPACE = get_space("dc_convnet")
IDS = ["d1_w32_relu_instancenorm_avgpool", "d2_w32_sigmoid_batchnorm_maxpool",
       "d1_w64_leakyrelu_none_avgpool", "d2_w32_relu_groupnorm_none"]
PROTOCOL = Protocol(epochs=3, batch_size=32, augment="dsa")  # 4 steps an epoch on 100 images


@pytest.fixture(scope="module")
def cluster():
    """A local Ray of 2 CPUs for this module's tests; its address, for a second driver to join."""
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the test spaces travel by value
    context = ray.init(address="local", num_cpus=2, include_dashboard=False)
    yield context.address_info["address"]
    ray.shutdown()
    ray.cloudpickle.unregister_pickle_by_value(sys.modules[__name__])


@pytest.fixture
def data(digits):
    return TrainingData(digits.train.subset(torch.arange(100)), digits.val, digits.test)


def plan_of(space, ids, protocol=PROTOCOL):
    return Plan(space, [SPACE.parse(i) for i in ids], protocol, 1, "first100_digits", "digits")


def rows(path):
    db = sqlite3.connect(path)
    return sorted(db.execute("SELECT candidate, seed, status, val_acc, test_acc, train_loss, reason FROM results"))


def ray_executor(**options):
    return make_executor(RayOptions(device="cpu", **options))


@pytest.mark.slow
def test_a_search_through_ray_equals_the_local_one_and_a_rerun_trains_nothing(cluster, data, tmp_path):
    plan = plan_of(SPACE, IDS)
    with ResultsStore(tmp_path / "local.sqlite") as store:
        train_into_store(plan, store, data, executor=ExecutorOptions(device="cpu", workers=1), max_models=1)
    executor, running = ray_executor(), []
    executor.on_running = running.append
    with ResultsStore(tmp_path / "ray.sqlite") as store:
        trained = train_into_store(plan, store, data, executor=executor, max_models=1)
        assert len(trained) == 4
        assert train_into_store(plan, store, data, executor=executor, max_models=1) == []
        assert {r.device for r in store.rows()} == {"cpu (1 threads)"}  # the workers' (1 CPU per task)
    on_ray = rows(tmp_path / "ray.sqlite")
    assert on_ray == rows(tmp_path / "local.sqlite")
    assert len(on_ray) == 4 and all(r[2] == "done" for r in on_ray)
    assert max(running) == 2 and running[-1] == 0  # 4 stacks on 2 CPUs: two at a time


class Recorded:
    """dc_convnet whose stacks write "pid candidate..." to ``log`` when built (the test finds the worker
    training a candidate there). The first build of ``hold``'s stack then waits, so that the test's kill
    lands mid-task whatever the machine's speed; the candidate ``nan_id`` outputs NaN, so its loss does."""

    def __init__(self, log: Path, hold: str | None = None, nan_id: str | None = None) -> None:
        self.log, self.hold, self.nan_id, self.name = str(log), hold, nan_id, SPACE.name

    def stack_key(self, candidate):
        return SPACE.stack_key(candidate)

    def build_stack(self, candidates, seeds, shape, classes):
        ids = [c.id for c in candidates]
        first = self.hold in ids and not any(self.hold in line.split()[1:] for line in read_lines(self.log))
        stack = SPACE.build_stack(candidates, seeds, shape, classes)
        with open(self.log, "a") as f:
            f.write(f"{os.getpid()} {' '.join(ids)}\n")
        if first:
            time.sleep(120)  # killed here
        return NaNOut(stack) if self.nan_id in ids else stack


def read_lines(path) -> list[str]:
    return Path(path).read_text().splitlines() if Path(path).exists() else []


class NaNOut(nn.Module):
    def __init__(self, stack: nn.Module) -> None:
        super().__init__()
        self.stack = stack

    def forward(self, x):
        return self.stack(x) * float("nan")


def builds(log: Path) -> list[tuple[int, str]]:
    return [(int(pid), ids) for pid, ids in (line.split(" ", 1) for line in read_lines(log))]


def kill_when_built(log: Path, victim: str) -> threading.Thread:
    """A thread that SIGKILLs the worker process that built ``victim``'s stack first (mid-task: that
    build waits for the kill)."""

    def kill() -> None:
        deadline = time.time() + 120
        while time.time() < deadline:
            found = [pid for pid, ids in builds(log) if victim in ids.split()]
            if found:
                assert found[0] != os.getpid()
                os.kill(found[0], signal.SIGKILL)
                return
            time.sleep(0.02)

    thread = threading.Thread(target=kill, daemon=True)
    thread.start()
    return thread


@pytest.mark.slow
def test_a_worker_killed_mid_task_is_retried_and_every_row_is_stored_once(cluster, data, tmp_path):
    log = tmp_path / "builds.log"
    victim, nan = IDS[1], IDS[2]
    plan = plan_of(Recorded(log, hold=victim, nan_id=nan), IDS[:3])
    killer = kill_when_built(log, victim)
    with ResultsStore(tmp_path / "r.sqlite") as store:
        # Accel(): no CPU layout measurement, whose extra builds of the victim would count as attempts
        trained = train_into_store(plan, store, data, executor=ray_executor(max_retries=2), max_models=1,
                                   accel=Accel())
    killer.join(timeout=5)
    assert len(trained) == 3
    stored = rows(tmp_path / "r.sqlite")
    assert [r[0] for r in stored] == sorted(IDS[:3])  # every row, once
    by_id = {r[0]: r for r in stored}
    assert by_id[victim][2] == "done"
    assert by_id[nan][2] == "failed" and "non-finite" in by_id[nan][6]
    attempts = [pid for pid, ids in builds(log) if victim in ids.split()]
    assert len(attempts) == 2 and attempts[0] != attempts[1]  # killed once, retried in another process
    assert sum(nan in ids.split() for _, ids in builds(log)) == 1  # a NaN loss is an outcome, not a retry


@pytest.mark.slow
def test_when_retries_run_out_the_rest_is_stored_the_error_names_the_lost_and_a_rerun_trains_only_them(
        cluster, data, tmp_path):
    log = tmp_path / "builds.log"
    victim = IDS[0]
    plan = plan_of(Recorded(log, hold=victim), IDS[:3])
    killer = kill_when_built(log, victim)
    with ResultsStore(tmp_path / "r.sqlite") as store:
        with pytest.raises(ProxynasError, match=f"lost: {victim}") as err:
            train_into_store(plan, store, data, executor=ray_executor(max_retries=0), max_models=1)
        killer.join(timeout=5)
        assert "\n" not in str(err.value) and "rerun" in str(err.value)
        assert [r[0] for r in rows(store.path)] == sorted(IDS[1:3])  # the others were stored first
        rerun = train_into_store(plan, store, data, executor=ray_executor(), max_models=1)
        assert [j.candidate.id for j in rerun] == [victim]
        assert train_into_store(plan, store, data, executor=ray_executor(), max_models=1) == []
    assert [r[0] for r in rows(tmp_path / "r.sqlite")] == sorted(IDS[:3])


@pytest.mark.slow
def test_the_cli_searches_through_ray_end_to_end(cluster, tmp_path, home, capsys, monkeypatch):
    from proxynas.cli import main

    args = ["search", "--proxy", "random_digits_ipc5", "--arch", IDS[0], "--arch", IDS[3], "--epochs", "2",
            "--device", "cpu"]
    env = {**os.environ, "PROXYNAS_HOME": str(tmp_path / "ray-home")}
    done = subprocess.run([sys.executable, "-m", "proxynas", *args, "--json", "--executor", "ray",
                           "--ray-address", cluster], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert f"Connecting to existing Ray cluster at address: {cluster}" in done.stderr
    on_ray = json.loads(done.stdout)
    assert main([*args, "--json"]) == 0  # the same search here, on the local executor
    local = json.loads(capsys.readouterr().out)
    assert [(r["candidate"], r["val_acc"], r["test_acc"]) for r in on_ray["results"]] == \
           [(r["candidate"], r["val_acc"], r["test_acc"]) for r in local["results"]]
    monkeypatch.setenv("PROXYNAS_HOME", env["PROXYNAS_HOME"])  # the rerun finds everything stored
    assert main([*args, "--executor", "ray", "--ray-address", "127.0.0.1:9"]) == 0  # no cluster is joined
    assert "on Ray (127.0.0.1:9); 2 already in the store, 0 to train" in capsys.readouterr().err


@pytest.mark.slow
def test_without_an_address_the_driver_joins_ray_address_when_it_is_set(cluster):
    code = ("import ray; from proxynas.scaleout.cluster import connect; connect(None); "
            "print(ray.get_runtime_context().gcs_address)")
    done = subprocess.run([sys.executable, "-c", code], env={**os.environ, "RAY_ADDRESS": cluster},
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [cluster]


NODES = [{"Alive": True, "Resources": {"CPU": 16.0, "GPU": 2.0}},
         {"Alive": True, "Resources": {"CPU": 8.0}},
         {"Alive": False, "Resources": {"CPU": 64.0, "GPU": 8.0}}]


@pytest.mark.parametrize("options, shape, slots", [
    (dict(device="auto"), TaskShape("cuda", 1.0, 1.0), 2),  # the cluster has GPUs: one per task
    (dict(device="auto", gpus_per_task=0.25), TaskShape("cuda", 0.25, 1.0), 8),
    (dict(device="cuda", gpus_per_task=0.25, cpus_per_task=4), TaskShape("cuda", 0.25, 4.0), 4),
    (dict(device="auto", gpus_per_task=0), TaskShape("cpu", 0.0, 1.0), 24),
    (dict(device="cpu", cpus_per_task=2), TaskShape("cpu", 0.0, 2.0), 12),
])
def test_the_task_shape_follows_the_workers_device_and_the_clusters_resources(options, shape, slots):
    found = task_shape(RayOptions(**options), NODES)
    assert found == shape and found.slots(NODES) == slots


@pytest.mark.parametrize("options, message", [
    (dict(device="cpu", gpus_per_task=1), "--device cpu with --gpus-per-task"),
    (dict(device="cuda", gpus_per_task=0), "--gpus-per-task 0.25"),
    (dict(device="cuda", gpus_per_task=1.5), "whole number"),
    (dict(device="cuda", gpus_per_task=4), "no node of the Ray cluster has 1 CPU(s) and 4 GPU(s)"),
    (dict(device="cpu", cpus_per_task=32), "no node of the Ray cluster has 32 CPU(s)"),
])
def test_a_task_the_cluster_cannot_run_is_an_error_with_a_fix(options, message):
    with pytest.raises(ProxynasError) as err:
        task_shape(RayOptions(**options), NODES)
    assert message in str(err.value)


def test_a_cluster_without_gpus_trains_on_cpus():
    assert task_shape(RayOptions(), NODES[1:2]) == TaskShape("cpu", 0.0, 1.0)


class Terminal(io.StringIO):
    """stderr as a terminal, so that the CLI draws its progress bar."""

    def isatty(self) -> bool:
        return True


@pytest.mark.slow
def test_the_progress_bar_shows_the_running_tasks(cluster, data, tmp_path, monkeypatch):
    from proxynas.cli.training import execute

    monkeypatch.setattr(sys, "stderr", Terminal())
    plan = plan_of(SPACE, IDS[:3], Protocol(epochs=1, batch_size=32))
    with ResultsStore(tmp_path / "r.sqlite") as store:
        ranked = execute(plan, store, data, ExecutorOptions(name="ray", device="cpu"), max_models=1, fresh=False)
    drawn = sys.stderr.getvalue()
    assert len(ranked) == 3 and "3 to train" in drawn
    assert "2 running" in drawn and "3/3" in drawn and "0 running" in drawn


@pytest.mark.slow
@pytest.mark.parametrize("level", ["finish", "now"])
def test_a_stop_on_ray_keeps_every_finished_stack(cluster, data, tmp_path, level):
    """Asked to finish after the first outcome, the driver submits nothing more and stores the task that
    was running (2 slots); asked to stop now, it cancels that task and stores nothing more."""
    from proxynas.engine.stopping import Interrupted, StopRequest

    plan = plan_of(SPACE, IDS, Protocol(epochs=2, batch_size=32))
    stop = StopRequest(notify=lambda message: None)
    ask = stop.finish if level == "finish" else stop.stop_now
    with ResultsStore(tmp_path / "r.sqlite") as store:
        with pytest.raises(Interrupted) as stopped:
            train_into_store(plan, store, data, executor=ray_executor(), max_models=1, stop=stop,
                             on_outcome=lambda outcome: ask("a test"))
        stored = len(rows(store.path))
        assert (stopped.value.stored, stopped.value.unfinished) == (stored, 4 - stored)
        assert stored == (2 if level == "finish" else 1)
        rerun = train_into_store(plan, store, data, executor=ray_executor(), max_models=1)
        assert len(rerun) == 4 - stored and len(rows(store.path)) == 4


@pytest.mark.slow
def test_sigint_to_a_driver_on_ray_stores_the_running_tasks(cluster, tmp_path):
    env = {**os.environ, "PROXYNAS_HOME": str(tmp_path / "ray-home")}
    db = tmp_path / "ray-home" / "results.sqlite"
    args = [sys.executable, "-m", "proxynas", "search", "--proxy", "random_digits_ipc5", "--sample", "6",
            "--where", "width=32", "--epochs", "150", "--device", "cpu", "--stack", "1", "--executor", "ray",
            "--ray-address", cluster]
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(proc.stderr), daemon=True).start()
    try:
        deadline = time.monotonic() + 300
        while stored_rows(db) < 1:
            assert time.monotonic() < deadline and proc.poll() is None, "".join(lines)
            time.sleep(0.05)
        at_signal = stored_rows(db)
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=300)
    finally:
        proc.kill()
    text = "".join(lines)
    assert code == 130, text
    assert "SIGINT: finishing the" in text
    rows_now = stored_rows(db)
    assert at_signal < rows_now < 6, text  # the running task was stored, nothing more was submitted
    assert f"stopped by SIGINT: {rows_now} result(s) of this run stored, {6 - rows_now} not trained" in text



# The papers' time column sums the rows' device-seconds. Measured on the shared 2-core development
# machine (load average 15-18 from other users' work), the same plan (these 4 candidates, 2 epochs on
# digits' training split, one model per stack) trained 15 times in 3 processes, by each executor in turn
# (benchmarks/results/README.md, "Cost"): totals of 1.12-2.37 device-seconds, the executors' ranges
# overlapping (1 worker 1.12-1.86, 2 workers 1.24-1.71, Ray 1.51-2.37). The widest spread between two
# runs of one executor, as the load changed, is TIME_SPREAD of the smaller; the tolerance is twice it.
# (The old figure, wall time over models, moved 5.7-135 s for the same work.)
TIME_SPREAD = 0.66
TIME_TOLERANCE = 2 * TIME_SPREAD


def test_the_papers_time_column_is_the_same_for_one_worker_two_workers_and_ray(cluster, digits, tmp_path):
    """Issue 18, case 7: the same plan through --workers 1, --workers 2 and Ray gives one time column."""
    from dataclasses import replace

    from analysis import compare_sides
    from analysis.paper import paper_table
    from analysis.sides import Side
    from proxynas.plans import plan_rows

    plan = Plan(SPACE, [SPACE.parse(i) for i in IDS], Protocol(epochs=2, batch_size=64), 1, "full_digits", "digits")
    data = TrainingData(digits.train, digits.val, digits.test)
    modes = {"1 worker": ExecutorOptions(workers=1), "2 workers": ExecutorOptions(workers=2),
             "ray": ExecutorOptions(name="ray", device="cpu")}
    times, methods, walls = {}, set(), {}
    with ResultsStore(tmp_path / "r.sqlite") as store:
        for mode, options in modes.items():
            run = replace(plan, fingerprint=f"as-{mode}")  # each mode trains the plan from nothing
            assert len(train_into_store(run, store, data, executor=make_executor(options), max_models=1)) == 4
            rows = plan_rows(store, run)
            methods |= {r.cost_method for r in rows}
            side = Side(mode, "proxy", run.trainset, run.key(), 2, {}, tuple(rows), run.identity(), "fp32")
            study = compare_sides(replace(side, label="truth", kind="truth"), [(side, None)], space=SPACE.name,
                                  dataset="digits", resamples=0)
            times[mode] = paper_table(study, top_k=(), top_fraction=0.5, storage={}, whole_images=None).rows[0].seconds
            [step] = store.steps(trainset_id=run.identity())
            walls[mode] = step["wall_seconds"]
            assert step["trained"] == 4 and step["regime"] == "fp32"
    assert methods == {"thread-cpu"}  # one intra-op thread everywhere (tests/conftest.py)
    low = min(times.values())
    assert max(times.values()) <= (1 + TIME_TOLERANCE) * low, (times, walls)
