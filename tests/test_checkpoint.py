"""Stack checkpoints (``engine.checkpoint``): a stack stopped mid-epoch, split after running out of
memory, or retried in another trainer resumes from its last checkpoint and ends bit for bit where an
uninterrupted training ends; a checkpoint of other code is ignored; the driver removes a stack's file
once its outcomes are stored."""

from __future__ import annotations

import logging
import os
import resource
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
from test_engine_invariant import IDS, PLAIN, SPACE, FailsAtStep
from test_stopping import make_proxy
from torch import nn

from proxynas.augment import make_augment
from proxynas.cli import main
from proxynas.datasets import dataset_info
from proxynas.engine import Accel, Job, Protocol
from proxynas.engine.checkpoint import Checkpoints, CheckpointSettings, models_prefix, remove
from proxynas.engine.executors import ExecutorOptions
from proxynas.engine.run import TrainingTask
from proxynas.engine.stopping import Halted, Interrupted, StopRequest
from proxynas.plans import Plan, TrainingData, plan_rows, train_into_store
from proxynas.scaleout.plugin import RayOptions
from proxynas.store import ResultsStore
from search_spaces import get_space

EVERY_EPOCH = CheckpointSettings(every_epochs=1, every_minutes=0)


def task_for(space, digits, protocol, settings=EVERY_EPOCH, folder=None):
    augment = None if protocol.augment == "none" else make_augment(protocol.augment, dataset_info("digits"))
    if folder is not None:
        settings = CheckpointSettings(settings.every_epochs, settings.every_minutes, str(folder))
    checkpoints = Checkpoints(settings, "dc_convnet", "digits-test", protocol.key(), "fp32")
    train = digits.train.subset(torch.arange(100))  # batch 32: 4 steps an epoch, the last of 4 images
    return TrainingTask(space, train, digits.val, digits.test, protocol, augment, Accel(), checkpoints)


def jobs(n: int = 2) -> list[Job]:
    return [Job(SPACE.parse(i), seed) for i, seed in zip(IDS[:n], (0, 1, 2, 3), strict=False)]


def results(outcomes) -> list[tuple]:
    found = {(o.job.candidate.id, o.job.seed): o for o in outcomes}
    return [(o.status, o.train_loss, o.val_acc, o.test_acc) for o in (found[k] for k in sorted(found))]


class StopAt:
    """A stop check that halts the training at its ``step``-th step (as a SIGKILL would, mid-epoch)."""

    def __init__(self, step: int) -> None:
        self.step, self.calls = step, 0

    def __call__(self) -> None:
        self.calls += 1
        if self.calls == self.step:
            raise Halted


PRESETS = {
    "dsa, lr drop": Protocol(epochs=4, batch_size=32, augment="dsa"),
    "cutmix, new optimizer at the drop": Protocol(epochs=3, batch_size=32, schedule="evaluate_synset",
                                                  mixup="cutmix", mix_p=1.0),
}


@pytest.mark.parametrize("name", list(PRESETS))
def test_a_stack_stopped_mid_epoch_resumes_bitwise(digits, tmp_path, caplog, name):
    protocol = PRESETS[name]
    task = task_for(PLAIN, digits, protocol, folder=tmp_path)
    plain = task.trainer().train_stack(jobs())
    unsaved = task_for(PLAIN, digits, protocol, CheckpointSettings(0, 0)).trainer().train_stack(jobs())
    assert results(unsaved) == results(plain)  # saving changes nothing
    for path in tmp_path.iterdir():
        path.unlink()
    with pytest.raises(Halted):
        task.trainer(stop=StopAt(4 * 3 + 2)).train_stack(jobs())  # the last epoch's second step
    assert len(list(tmp_path.glob("*.pt"))) == 1
    with caplog.at_level(logging.WARNING, "proxynas.engine.checkpoint"):
        resumed = task.trainer().train_stack(jobs())  # another trainer: as another process would
    assert "from epoch 3" in caplog.text
    assert results(resumed) == results(plain)
    assert resumed[0].checkpoint == (str(next(tmp_path.glob("*.pt"))), 2)


class SplitSpace:
    """PLAIN's stacks; those of more than two models run out of memory at training step ``step``.
    Records each stack built and the training steps it ran."""

    def __init__(self, step: int) -> None:
        self.step, self.name, self.steps = step, PLAIN.name, []

    def stack_key(self, candidate):
        return PLAIN.stack_key(candidate)

    def build_stack(self, candidates, seeds, shape, classes):
        stack = PLAIN.build_stack(candidates, seeds, shape, classes)
        counter = FailsAtStep(stack, self.step if len(candidates) > 2 else 0)
        self.steps.append(counter)
        return counter


def test_an_out_of_memory_split_continues_from_the_parent_checkpoint(digits, tmp_path, caplog):
    protocol = Protocol(epochs=4, batch_size=32, augment="dsa")
    alone = [o for job in jobs(4) for o in task_for(PLAIN, digits, protocol, folder=tmp_path / "a")
             .trainer().train_stack([job])]
    space = SplitSpace(step=4 * 2 + 2)  # the third epoch's second step: two epochs are saved
    task = task_for(space, digits, protocol, folder=tmp_path / "b")
    with caplog.at_level(logging.WARNING, "proxynas.engine.checkpoint"):
        split = task.trainer().train_splitting(jobs(4))
    assert results(split) == results(alone)
    assert [c.calls for c in space.steps] == [10, 8, 8]  # the halves trained epochs 3 and 4 only
    assert caplog.text.count("from epoch 2 (checkpoint inherited") == 2
    halves = {o.checkpoint for o in split}
    assert len(halves) == 2
    assert {p.name for p in (tmp_path / "b").glob("*.pt")} == {Path(p).name for p, _ in halves}


def test_a_fused_stack_says_its_halves_start_from_epoch_0(digits):
    fused = SPACE.build_stack([j.candidate for j in jobs(2)], [0, 1], digits.train.shape, 10)
    assert models_prefix(fused) is None
    assert models_prefix(FailsAtStep(PLAIN.build_stack([j.candidate for j in jobs(2)], [0, 1],
                                                       digits.train.shape, 10), 0)) == "stack.models."


def test_a_checkpoint_of_other_code_is_ignored_with_a_log_line(digits, tmp_path, caplog, monkeypatch):
    protocol = Protocol(epochs=3, batch_size=32)
    task = task_for(PLAIN, digits, protocol, folder=tmp_path)
    plain = task.trainer().train_stack(jobs())
    next(tmp_path.glob("*.pt")).unlink()
    with pytest.raises(Halted):
        task.trainer(stop=StopAt(4 * 2 + 1)).train_stack(jobs())
    import proxynas

    monkeypatch.setattr(proxynas, "__version__", "0.0.0-other")
    with caplog.at_level(logging.WARNING, "proxynas.engine.checkpoint"):
        again = task.trainer().train_stack(jobs())
    assert "written by another code (proxynas '0.1.0' in the file, '0.0.0-other' here)" in caplog.text
    assert "resuming" not in caplog.text
    assert results(again) == results(plain)


# a real search killed with SIGKILL mid-training and run again: 4 steps an epoch (batch 25 of 100 images)
KILLED = ["search", "--proxy", "random_digits_ipc10", "--arch", "d1_w32_relu_instancenorm_avgpool",
          "--arch", "d1_w32_relu_batchnorm_avgpool", "--device", "cpu", "--stack", "2", "--workers", "1",
          "--epochs", "24", "--batch-size", "25"]


def rows(db: Path) -> list[tuple]:
    with sqlite3.connect(db) as con:
        return con.execute("SELECT candidate, seed, status, val_acc, test_acc, train_loss, epochs FROM results "
                           "ORDER BY candidate, seed").fetchall()


@pytest.mark.slow
def test_a_search_killed_mid_epoch_resumes_and_stores_the_rows_of_an_uninterrupted_one(tmp_path, digits):
    homes = {name: tmp_path / name for name in ("whole", "killed")}
    for home in homes.values():
        make_proxy(home, digits)
    env = {name: {**os.environ, "PROXYNAS_HOME": str(home)} for name, home in homes.items()}
    command = [sys.executable, "-m", "proxynas", *KILLED]
    whole = subprocess.Popen([*command, "--checkpoint-minutes", "0"], env=env["whole"],  # no checkpoints
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    folder = homes["killed"] / "checkpoints"
    killed = subprocess.Popen([*command, "--checkpoint-epochs", "2"], env=env["killed"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 300
        while not (folder.exists() and any(folder.glob("*.pt"))):
            assert killed.poll() is None and time.monotonic() < deadline, "no checkpoint before the end"
            time.sleep(0.02)
        killed.send_signal(signal.SIGKILL)  # as the kernel's OOM killer or a preemption would
    finally:
        killed.kill()
        killed.wait()
    assert stored_rows(homes["killed"] / "results.sqlite") == 0
    [saved] = folder.glob("*.pt")
    epoch = torch.load(saved, weights_only=True)["state"]["epoch"]
    assert 0 < epoch < 24
    again = subprocess.run([*command, "--checkpoint-epochs", "2"], env=env["killed"], capture_output=True,
                           text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert f"from epoch {epoch} (checkpoint {saved.name})" in again.stderr, again.stderr
    assert whole.wait(timeout=300) == 0, whole.stderr.read()
    assert rows(homes["killed"] / "results.sqlite") == rows(homes["whole"] / "results.sqlite")
    assert len(rows(homes["whole"] / "results.sqlite")) == 2
    assert list(folder.iterdir()) == []  # removed once the stack's rows were stored


def test_a_fused_stack_split_starts_its_halves_from_epoch_0_saying_so(digits, tmp_path, caplog):
    class FusedSplit(SplitSpace):
        def build_stack(self, candidates, seeds, shape, classes):
            stack = FailsAtStep(SPACE.build_stack(candidates, seeds, shape, classes),
                                self.step if len(candidates) > 2 else 0)
            self.steps.append(stack)
            return stack

    space = FusedSplit(step=4 * 2 + 2)
    task = task_for(space, digits, Protocol(epochs=3, batch_size=32), folder=tmp_path)
    with caplog.at_level(logging.INFO, "proxynas.engine.run"):
        split = task.trainer().train_splitting(jobs(4))
    assert [o.status for o in split] == ["done"] * 4
    assert [c.calls for c in space.steps] == [10, 12, 12]  # the halves trained all three epochs
    assert "a fused stack): its halves start from epoch 0" in caplog.text


def test_the_pipeline_removes_a_stack_checkpoint_once_its_rows_are_stored(digits, tmp_path, home):
    space = get_space("dc_convnet")
    plan = Plan(space, [space.parse(i) for i in IDS[:2]], Protocol(epochs=2, batch_size=64), seeds=1,
                trainset="tiny_digits", dataset="digits")
    options = ExecutorOptions(name="serial", checkpoint=EVERY_EPOCH)
    seen = []
    with ResultsStore(tmp_path / "results.sqlite") as store:
        train_into_store(plan, store, TrainingData(digits.train, digits.val, digits.test), executor=options,
                         max_models=1, on_outcome=lambda o: seen.append((o.checkpoint, Path(o.checkpoint[0]).exists())))
    assert [(Path(path).parent, size, there) for (path, size), there in seen] == [(home / "checkpoints", 1, False)] * 2
    assert len({path for (path, _), _ in seen}) == 2 and list((home / "checkpoints").iterdir()) == []


@pytest.mark.parametrize("flag, value", [("--checkpoint-epochs", "-1"), ("--checkpoint-minutes", "-2")])
def test_a_bad_checkpoint_setting_is_a_one_line_error(home, capsys, flag, value):
    argv = ["search", "--proxy", "random_digits_ipc5", "--arch", "d1_w32_relu_none_avgpool", "--epochs", "1",
            "--device", "cpu"]
    assert main([*argv, flag, value]) == 2
    err = capsys.readouterr().err
    assert flag in err and len(err.strip().splitlines()) == 1


def test_a_rerun_plans_a_saved_stack_as_it_was_saved_and_resumes_it(digits, tmp_path, home, caplog):
    """Stacks sized otherwise on the rerun (here: 4 models a stack, not 2) keep the saved one whole."""
    space = get_space("dc_convnet")
    plan = Plan(space, [space.parse(i) for i in IDS], Protocol(epochs=3, batch_size=32), seeds=1,
                trainset="tiny_digits", dataset="digits")
    data = TrainingData(digits.train.subset(torch.arange(100)), digits.val, digits.test)
    options = ExecutorOptions(name="serial", checkpoint=EVERY_EPOCH)
    with ResultsStore(tmp_path / "whole.sqlite") as store:
        train_into_store(plan, store, data, executor=ExecutorOptions(name="serial"), max_models=2)
        whole = sorted((r.candidate, r.train_loss, r.val_acc, r.test_acc) for r in plan_rows(store, plan))
    stop = StopRequest(notify=lambda message: None)

    def halt(end):
        if end.epoch == 1:
            stop.stop_now("a test")

    with ResultsStore(tmp_path / "results.sqlite") as store:
        with pytest.raises(Interrupted):
            train_into_store(plan, store, data, executor=options, max_models=2, stop=stop, on_epoch=halt)
        assert len(list((home / "checkpoints").glob("*.pt"))) == 1
        with caplog.at_level(logging.INFO, "proxynas.engine.checkpoint"):
            train_into_store(plan, store, data, executor=options, max_models=4)
        rows = sorted((r.candidate, r.train_loss, r.val_acc, r.test_acc) for r in plan_rows(store, plan))
    assert "1 stack(s) planned as their checkpoints were saved" in caplog.text and "from epoch 2" in caplog.text
    assert rows == whole
    assert list((home / "checkpoints").iterdir()) == []


class StepLog(nn.Module):
    """A stack that appends its process id to ``log`` at every training step, a little slowly (so that
    a kill lands mid-training whatever the machine's speed)."""

    def __init__(self, stack: nn.Module, log: str) -> None:
        super().__init__()
        self.stack, self.log = stack, log

    def forward(self, x):
        if self.training:
            with open(self.log, "a") as f:
                f.write(f"{os.getpid()}\n")
            time.sleep(0.05)
        return self.stack(x)


class Logged:
    def __init__(self, log: Path) -> None:
        self.log, self.name = str(log), SPACE.name

    def stack_key(self, candidate):
        return SPACE.stack_key(candidate)

    def build_stack(self, candidates, seeds, shape, classes):
        return StepLog(SPACE.build_stack(candidates, seeds, shape, classes), self.log)


@pytest.mark.slow
def test_a_ray_task_whose_worker_is_killed_resumes_from_its_checkpoint_in_the_retry(digits, tmp_path):
    ray = pytest.importorskip("ray")
    log, folder = tmp_path / "steps.log", tmp_path / "checkpoints"
    protocol = Protocol(epochs=6, batch_size=32)  # 4 steps an epoch on 100 images: 24 steps
    data = TrainingData(digits.train.subset(torch.arange(100)), digits.val, digits.test)
    plan = Plan(Logged(log), [SPACE.parse(IDS[0])], protocol, 1, "first100_digits", "digits")
    with ResultsStore(tmp_path / "local.sqlite") as store:
        train_into_store(plan, store, data, executor=ExecutorOptions(device="cpu", workers=1), max_models=1,
                         accel=Accel())
    log.unlink()

    def kill() -> None:  # the worker, as soon as its stack has saved once
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and not any(folder.glob("*.pt")):
            time.sleep(0.01)
        os.kill(int(log.read_text().split()[-1]), signal.SIGKILL)

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    ray.init(address="local", num_cpus=1, include_dashboard=False)
    try:
        killer = threading.Thread(target=kill, daemon=True)
        killer.start()
        options = RayOptions(device="cpu", max_retries=1,
                                  checkpoint=CheckpointSettings(2, 0, str(folder)))
        with ResultsStore(tmp_path / "ray.sqlite") as store:
            train_into_store(plan, store, data, executor=options, max_models=1, accel=Accel())
        killer.join(timeout=5)
    finally:
        ray.shutdown()
        ray.cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
    steps = log.read_text().split()
    first, retry = steps[0], steps[-1]
    assert first != retry  # killed once, retried in another process
    assert steps.count(first) >= 8 and steps.count(retry) % 4 == 0 and steps.count(retry) < 24  # resumed
    assert rows(tmp_path / "ray.sqlite") == rows(tmp_path / "local.sqlite")
    assert not any(folder.glob("*.pt"))


def test_a_checkpoint_the_disk_refuses_is_a_warning_and_the_training_goes_on(digits, tmp_path, caplog):
    """The disk is made to refuse for real: a file size limit (RLIMIT_FSIZE, SIGXFSZ ignored), as in
    ``test_atomic_io``; the stack's checkpoint is larger than it."""
    protocol = Protocol(epochs=2, batch_size=32)
    plain = task_for(PLAIN, digits, protocol, CheckpointSettings(0, 0)).trainer().train_stack(jobs())
    task = task_for(PLAIN, digits, protocol, folder=tmp_path)
    task.checkpoints.settings.directory()
    handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (16 * 1024, hard))
    try:
        with caplog.at_level(logging.WARNING, "proxynas.engine.checkpoint"):
            refused = task.trainer().train_stack(jobs())
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, handler)
    assert caplog.text.count("cannot write the stack checkpoint") == 2 and "[EFBIG]" in caplog.text
    assert "trains on, saving again when next due" in caplog.text
    assert results(refused) == results(plain)
    assert [p.suffix for p in tmp_path.iterdir()] == [".json"]  # its card (small), no file, no temporary


def test_removing_a_checkpoint_removes_its_card_and_what_a_killed_writer_left(tmp_path):
    names = ["k.pt", "k.json", ".k.pt.x1y2.tmp", ".k.json.z3.tmp", "other.pt", ".other.pt.q.tmp"]
    for name in names:
        (tmp_path / name).write_bytes(b"x")
    remove(tmp_path / "k.pt")
    remove(tmp_path / "gone.pt")  # nothing there: fine
    assert sorted(p.name for p in tmp_path.iterdir()) == [".other.pt.q.tmp", "other.pt"]
