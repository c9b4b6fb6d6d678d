"""Ray workers that stay (``proxynas.scaleout``): actors on a real local Ray of 2 CPUs.

One process per actor for a whole run of many stacks, its rows equal to the serial executor's; an actor
killed mid-stack is replaced and its stack trained again, the rows still the serial ones; a stack that
runs out of memory is halved inside its actor; a model out of memory even alone is named at the end,
its stack-mates stored; an actor that cannot start is one error at once; no stack waits on an actor
that cannot be placed. The actor's body in-process: ``tests/test_ray_worker.py``.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import sys
import threading
import time
from pathlib import Path

import pytest
import torch
from torch import nn

from proxynas.engine import Accel, Protocol
from proxynas.engine.checkpoint import CheckpointSettings
from proxynas.engine.executors import ExecutorOptions, make_executor
from proxynas.errors import ProxynasError
from proxynas.plans import Plan, TrainingData, train_into_store
from proxynas.scaleout.plugin import RayOptions
from proxynas.spaces import PlainStacks
from proxynas.store import ResultsStore
from search_spaces import get_space

ray = pytest.importorskip("ray")

SPACE = get_space("dc_convnet")
PLAIN = PlainStacks(SPACE)  # one module per model: a stack of 4 and 4 stacks of 1 train bit for bit alike
SAME_SHAPE = ["d1_w32_relu_instancenorm_avgpool", "d1_w32_sigmoid_batchnorm_avgpool",
              "d1_w32_leakyrelu_none_avgpool", "d1_w32_relu_groupnorm_avgpool"]  # one PlainStacks stack
OTHERS = ["d2_w32_sigmoid_batchnorm_maxpool", "d1_w64_leakyrelu_none_avgpool", "d2_w32_relu_groupnorm_none",
          "d1_w32_relu_layernorm_maxpool"]
PROTOCOL = Protocol(epochs=2, batch_size=32)  # 4 steps an epoch on 100 images


@pytest.fixture(scope="module")
def cluster():
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the test spaces travel by value
    context = ray.init(address="local", num_cpus=2, include_dashboard=False)
    yield context.address_info["address"]
    ray.shutdown()
    ray.cloudpickle.unregister_pickle_by_value(sys.modules[__name__])


@pytest.fixture
def data(digits):
    return TrainingData(digits.train.subset(torch.arange(100)), digits.val, digits.test)


class FailsAtStep(nn.Module):
    """Runs out of memory at its ``step``-th forward pass in training (the injected OOM of
    ``tests/test_engine_invariant.py``)."""

    def __init__(self, stack: nn.Module, step: int) -> None:
        super().__init__()
        self.stack, self.step, self.calls = stack, step, 0

    def forward(self, x):
        if self.training:
            self.calls += 1
            if self.calls == self.step:
                raise torch.OutOfMemoryError("injected: out of memory at a training step")
        return self.stack(x)


class Steps(nn.Module):
    """Writes "pid" to ``log`` at each training step; the first training of the stack (no step logged
    before it) waits at its ``hold``-th step, for the test to kill its process there."""

    def __init__(self, stack: nn.Module, log: str, hold: int) -> None:
        super().__init__()
        self.stack, self.log, self.hold, self.calls = stack, log, hold, 0
        self.first = not Path(log).exists()

    def forward(self, x):
        if self.training:
            self.calls += 1
            with open(self.log, "a") as f:
                f.write(f"{os.getpid()}\n")
            if self.first and self.calls == self.hold:
                time.sleep(120)  # killed here
        return self.stack(x)


class Logged:
    """PLAIN whose stacks write "pid candidate..." to ``log`` when built. The first build of ``hold``'s
    stack then waits (the test kills its actor there), or with ``hold_step`` its first training waits at
    that step, and every training step of it is logged to ``log``.steps (:class:`Steps`); a stack of more
    than ``limit`` models, or one holding ``unfit``, runs out of memory at its 6th training step."""

    def __init__(self, log: Path, hold: str | None = None, limit: int | None = None, unfit: str | None = None,
                 hold_step: int = 0):
        self.log, self.hold, self.limit, self.unfit, self.name = str(log), hold, limit, unfit, PLAIN.name
        self.hold_step = hold_step

    def stack_key(self, candidate):
        return PLAIN.stack_key(candidate)

    def build_stack(self, candidates, seeds, shape, classes):
        ids = [c.id for c in candidates]
        first = self.hold in ids and not any(self.hold in ids_ for _, ids_ in builds(Path(self.log)))
        stack = PLAIN.build_stack(candidates, seeds, shape, classes)
        with open(self.log, "a") as f:
            f.write(f"{os.getpid()} {' '.join(ids)}\n")
        if self.hold in ids and self.hold_step:
            return Steps(stack, f"{self.log}.steps", self.hold_step)
        if first:
            time.sleep(120)  # killed here
        if (self.limit is not None and len(ids) > self.limit) or self.unfit in ids:
            stack = FailsAtStep(stack, 6)
        return stack


def builds(log: Path) -> list[tuple[int, list[str]]]:
    lines = log.read_text().splitlines() if log.exists() else []
    return [(int(pid), ids.split()) for pid, ids in (line.split(" ", 1) for line in lines)]


def plan_of(space, ids, protocol=PROTOCOL):
    return Plan(space, [SPACE.parse(i) for i in ids], protocol, 1, "first100_digits", "digits")


def rows(path: Path) -> list[tuple]:
    db = sqlite3.connect(path)
    return sorted(db.execute("SELECT candidate, seed, status, val_acc, test_acc, train_loss, reason FROM results"))


def serial_rows(ids, data, path: Path, protocol=PROTOCOL) -> list[tuple]:
    with ResultsStore(path) as store:
        train_into_store(plan_of(PLAIN, ids, protocol), store, data,
                         executor=ExecutorOptions(name="serial", device="cpu"), max_models=1, accel=Accel())
    return rows(path)


def on_ray(space, ids, data, path: Path, max_models: int = 1, protocol=PROTOCOL, **options):
    executor = make_executor(RayOptions(device="cpu", **options))
    with ResultsStore(path) as store:
        trained = train_into_store(plan_of(space, ids, protocol), store, data, executor=executor,
                                   max_models=max_models, accel=Accel())
    return executor, trained


@pytest.mark.slow
def test_one_process_per_actor_trains_every_stack_of_a_run(cluster, data, tmp_path):
    log, ids = tmp_path / "builds.log", SAME_SHAPE + OTHERS
    executor, trained = on_ray(Logged(log), ids, data, tmp_path / "ray.sqlite")
    assert len(trained) == 8
    assert rows(tmp_path / "ray.sqlite") == serial_rows(ids, data, tmp_path / "serial.sqlite")
    pids = {pid for pid, _ in builds(log)}
    assert len(builds(log)) == 8 and len(pids) == 2  # 8 stacks, 2 processes: one per actor (2 CPUs)
    assert set(executor.trained_by) == pids and sum(executor.trained_by.values()) == 8
    assert executor.pool.started == 2 and executor.pool.alive == []  # killed when the run ended


def kill_when_built(log: Path, victim: str, steps: Path | None = None, at_step: int = 0) -> threading.Thread:
    """A thread that SIGKILLs the process that built ``victim``'s stack first (mid-stack: that build
    waits), with ``steps`` once that process has logged ``at_step`` training steps there (and waits)."""

    def kill() -> None:
        deadline = time.time() + 120
        while time.time() < deadline:
            found = [pid for pid, ids in builds(log) if victim in ids]
            if found and steps is not None:
                logged = steps.read_text().split() if steps.exists() else []
                found = found if logged.count(str(found[0])) >= at_step else []
            if found:
                assert found[0] != os.getpid()
                os.kill(found[0], signal.SIGKILL)
                return
            time.sleep(0.02)

    thread = threading.Thread(target=kill, daemon=True)
    thread.start()
    return thread


@pytest.mark.slow
def test_a_killed_actor_is_replaced_and_the_run_equals_the_serial_one(cluster, data, tmp_path):
    log, ids, victim = tmp_path / "builds.log", OTHERS + SAME_SHAPE[:2], OTHERS[1]
    killer = kill_when_built(log, victim)
    executor, trained = on_ray(Logged(log, hold=victim), ids, data, tmp_path / "ray.sqlite")
    killer.join(timeout=5)
    assert len(trained) == 6
    assert rows(tmp_path / "ray.sqlite") == serial_rows(ids, data, tmp_path / "serial.sqlite")
    attempts = [pid for pid, built in builds(log) if victim in built]
    assert len(attempts) == 2 and attempts[0] != attempts[1]  # killed once, trained again by a new actor
    assert executor.pool.started == 3  # 2, and the one that replaced the killed one
    # the stacks left went to whichever actor was idle first: the survivor, or the replacement once started
    assert attempts[0] not in executor.trained_by and len(executor.trained_by) in (1, 2)
    assert {pid for pid, _ in builds(log)} == {attempts[0], *executor.trained_by}


@pytest.mark.slow
def test_a_killed_actors_stack_is_resumed_from_its_checkpoint_not_restarted(cluster, data, tmp_path):
    """5 epochs of 4 steps, a checkpoint after every epoch; the victim's actor is killed at its 10th step
    (mid third epoch): the new actor trains the last 3 epochs (12 steps), not 20, and the rows are the
    serial executor's, bit for bit; the driver removes each stack's checkpoint once it is stored."""
    log, ids, victim = tmp_path / "builds.log", OTHERS[:3], OTHERS[0]
    protocol, folder = Protocol(epochs=5, batch_size=32), tmp_path / "checkpoints"
    killer = kill_when_built(log, victim, Path(f"{log}.steps"), at_step=10)
    executor, trained = on_ray(Logged(log, hold=victim, hold_step=10), ids, data, tmp_path / "ray.sqlite",
                               protocol=protocol, checkpoint=CheckpointSettings(1, 0, str(folder)))
    killer.join(timeout=5)
    assert len(trained) == 3
    assert rows(tmp_path / "ray.sqlite") == serial_rows(ids, data, tmp_path / "serial.sqlite", protocol)
    first, retry = [pid for pid, built in builds(log) if victim in built]
    steps = [int(line) for line in Path(f"{log}.steps").read_text().split()]
    assert first != retry and steps.count(first) == 10
    assert steps.count(retry) == 12  # epochs 3 to 5: resumed after epoch 2, not restarted (20)
    assert first not in executor.trained_by and retry in executor.trained_by  # the new actor, or the other one
    assert list(folder.iterdir()) == []


@pytest.mark.slow
def test_a_stack_out_of_memory_is_halved_inside_its_actor(cluster, data, tmp_path):
    log = tmp_path / "builds.log"
    executor, trained = on_ray(Logged(log, limit=2), SAME_SHAPE, data, tmp_path / "ray.sqlite", max_models=4)
    assert len(trained) == 4
    assert rows(tmp_path / "ray.sqlite") == serial_rows(SAME_SHAPE, data, tmp_path / "serial.sqlite")
    built = builds(log)
    assert [len(ids) for _, ids in built] == [4, 2, 2] and len({pid for pid, _ in built}) == 1
    assert executor.pool.started == 1 and executor.trained_by == {built[0][0]: 1}  # one stack, one actor


@pytest.mark.slow
def test_a_model_out_of_memory_alone_is_named_after_its_stack_mates_are_stored(cluster, data, tmp_path):
    log, unfit = tmp_path / "builds.log", SAME_SHAPE[2]
    with pytest.raises(ProxynasError) as err:
        on_ray(Logged(log, unfit=unfit), SAME_SHAPE, data, tmp_path / "ray.sqlite", max_models=4)
    message = str(err.value)
    assert "\n" not in message and f"lost: {unfit}" in message and "out of memory even alone" in message
    others = [i for i in SAME_SHAPE if i != unfit]
    assert rows(tmp_path / "ray.sqlite") == serial_rows(others, data, tmp_path / "serial.sqlite")
    # halved down to the unfit model alone (its first half trained), then the 4 one by one
    assert [len(ids) for _, ids in builds(log)] == [4, 2, 2, 1, 1, 1, 1, 1]


@ray.remote(num_cpus=1)
class Holder:
    """Another job's actor, holding one of the cluster's 2 CPUs."""

    def pid(self) -> int:
        return os.getpid()


@pytest.mark.slow
def test_no_stack_waits_on_an_actor_that_cannot_start_while_another_is_idle(cluster, data, tmp_path):
    """2 slots by the cluster's resources, one CPU held by another job: the second actor waits for it,
    and the run's stacks all go to the first one (before, a stack sent to the waiting actor waited too)."""
    holder = Holder.remote()
    ray.get(holder.pid.remote())  # it holds its CPU now
    log, ids, found = tmp_path / "builds.log", OTHERS, []
    run = threading.Thread(target=lambda: found.append(on_ray(Logged(log), ids, data, tmp_path / "ray.sqlite")),
                           daemon=True)
    run.start()
    run.join(timeout=240)  # the run takes seconds; a stack waiting on the held CPU would wait for ever
    waited = run.is_alive()
    ray.kill(holder)  # frees the CPU: a run still waiting then ends
    run.join(timeout=240)
    assert not waited, "a stack waited on the actor that could not start"
    [(executor, trained)] = found
    assert len(trained) == 4
    assert rows(tmp_path / "ray.sqlite") == serial_rows(ids, data, tmp_path / "serial.sqlite")
    assert len({pid for pid, _ in builds(log)}) == 1 and executor.pool.started == 2


class NotHere:
    """PLAIN that cannot be unpickled outside the process that made it: an actor fails to start."""

    def __init__(self) -> None:
        self.name, self.pid = PLAIN.name, os.getpid()

    def stack_key(self, candidate):
        return PLAIN.stack_key(candidate)

    def build_stack(self, candidates, seeds, shape, classes):
        return PLAIN.build_stack(candidates, seeds, shape, classes)

    def __setstate__(self, state):
        if state["pid"] != os.getpid():
            raise RuntimeError("this space does not load here")
        self.__dict__.update(state)


@pytest.mark.slow
def test_an_actor_that_cannot_start_is_one_error_at_once(cluster, data, tmp_path):
    with pytest.raises(ProxynasError) as err:
        on_ray(NotHere(), SAME_SHAPE + OTHERS, data, tmp_path / "ray.sqlite", max_retries=5)
    message = str(err.value)
    assert "\n" not in message and message.startswith("a Ray actor could not start")
    assert "this space does not load here" in message, message
    assert rows(tmp_path / "ray.sqlite") == []
