"""The body of a Ray actor (``proxynas.scaleout.worker``), in this process: the memory fraction it sets on
a shared GPU is its share (CPU twin: the shape and fraction computed as on a GPU cluster, torch's CUDA
setter recorded instead of called), and it places the data once and trains stacks as the serial
executor does."""

from __future__ import annotations

import os

import pytest
import torch
from test_ray_actors import PLAIN, SAME_SHAPE, SPACE

from proxynas.engine import Accel, Job, Protocol
from proxynas.engine.run import TrainingTask
from proxynas.plans import TrainingData
from proxynas.scaleout.plugin import RayOptions

pytest.importorskip("ray")
from proxynas.scaleout.cluster import task_shape  # needs ray
from proxynas.scaleout.pool import actor_options
from proxynas.scaleout.worker import StackWorker, limit_memory, memory_fraction

NODES = [{"Alive": True, "Resources": {"CPU": 16.0, "GPU": 2.0}}]


@pytest.mark.parametrize("gpus, fraction", [(0.25, 0.25), (0.5, 0.5), (1, None), (2, None)])
def test_an_actor_on_a_fraction_of_a_gpu_caps_its_memory_at_that_fraction(gpus, fraction, monkeypatch):
    """The CPU twin: the shape and fraction are computed as on a GPU cluster, and torch's CUDA setter is
    recorded instead of called (this machine has no GPU)."""
    calls = []
    monkeypatch.setattr(torch.cuda, "set_per_process_memory_fraction",
                        lambda share, device=None: calls.append((share, device)))
    shape = task_shape(RayOptions(device="cuda", gpus_per_task=gpus), NODES)
    assert actor_options(shape)["num_gpus"] == gpus
    assert memory_fraction(shape.num_gpus) == fraction
    cuda = torch.device("cuda")
    assert limit_memory(cuda, memory_fraction(shape.num_gpus)) == fraction
    assert calls == ([] if fraction is None else [(fraction, cuda)])
    assert limit_memory(torch.device("cpu"), 0.25) is None and len(calls) == (fraction is not None)


def test_a_worker_places_the_data_once_and_trains_stacks_as_the_serial_executor(digits, tmp_path):
    """The actor's body, in this process: one placement for all its stacks, the serial executor's outcomes."""
    data = TrainingData(digits.train.subset(torch.arange(100)), digits.val, digits.test)
    task = TrainingTask(PLAIN, data.train, data.val, data.test, Protocol(epochs=1, batch_size=32), accel=Accel())
    worker = StackWorker(task, "cpu", threads=1)
    placed = worker.trainer.task
    results = [worker.train([Job(SPACE.parse(i), 0)]) for i in SAME_SHAPE[:2]]
    assert worker.trainer.task is placed and [r.trained for r in results] == [1, 2]
    assert {r.pid for r in results} == {os.getpid()} and all(not r.unfit for r in results)
    serial = task.trainer()
    for i, result in zip(SAME_SHAPE[:2], results, strict=True):
        [alone] = serial.train_splitting([Job(SPACE.parse(i), 0)])
        [got] = result.outcomes
        assert (got.status, got.val_acc, got.test_acc, got.train_loss) == \
               (alone.status, alone.val_acc, alone.test_acc, alone.train_loss)
