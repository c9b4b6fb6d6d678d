"""The CPU speed settings change where tensors live and how often they are scored, never a result."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from proxynas.datasets.base import TensorSet
from proxynas.engine import Job, Protocol, run_jobs
from proxynas.engine.cpu_memory import keep_freed_memory
from proxynas.engine.run import TrainingTask
from search_spaces import get_space

ROOT = Path(__file__).resolve().parents[1]
SPACE = get_space("dc_convnet")

# Prints the page faults of allocating and freeing a 64 MiB tensor (the size of a 64-channel 32x32
# activation at batch 256) six times, then trains two candidates side by side and prints the outcomes.
CHILD = """
import hashlib, json, resource, sys, torch
from proxynas.engine.cpu_memory import keep_freed_memory
kept = keep_freed_memory() if sys.argv[1] == "keep" else False
from proxynas.datasets.base import TensorSet
from proxynas.engine import Job, Protocol, run_jobs
from search_spaces import get_space
faults = []
for _ in range(6):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    x = torch.ones(16 * 2**20)
    del x
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
torch.set_num_threads(1)
space = get_space("dc_convnet")
g = torch.Generator().manual_seed(0)
data = TensorSet(torch.randn(300, 3, 16, 16, generator=g), torch.randint(0, 10, (300,), generator=g), 10)
jobs = [Job(space.parse(i), 3) for i in ("d2_w32_relu_batchnorm_none", "d1_w32_sigmoid_layernorm_maxpool")]
outcomes = list(run_jobs(jobs, space, data, data, data, Protocol(epochs=3), workers=2))
print(json.dumps({"kept": kept, "faults": faults,
                  "outcomes": [[o.val_acc, o.train_loss] for o in outcomes]}))
"""


def child(mode: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-c", CHILD, mode], capture_output=True, text=True, env=env,
                          timeout=300, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator only")
def test_kept_freed_memory_is_reused_without_page_faults_and_changes_no_result():
    default, kept = child("default"), child("keep")
    assert kept["kept"] is True
    # glibc maps a 64 MiB block afresh each time (16,384 pages faulted); kept, it is soon reused as it is
    assert min(default["faults"]) > 10_000
    assert max(kept["faults"][-3:]) < 100
    assert kept["outcomes"] == default["outcomes"]  # bit-identical: only where tensors live changed


def test_keep_freed_memory_can_be_called_again():
    assert keep_freed_memory() == keep_freed_memory()


class CountingSpace:
    """dc_convnet, counting the images its stacks score in evaluation mode."""

    name = SPACE.name

    def __init__(self) -> None:
        self.scored = 0

    def stack_key(self, candidate):
        return SPACE.stack_key(candidate)

    def build_stack(self, candidates, seeds, shape, classes) -> nn.Module:
        stack = SPACE.build_stack(candidates, seeds, shape, classes)

        def count(module, args, output) -> None:
            if not module.training:
                self.scored += args[0].shape[1]

        stack.register_forward_hook(count)
        return stack


def test_one_set_as_val_and_test_is_scored_once_with_the_same_accuracy(digits):
    data = digits.train.subset(torch.arange(200))
    jobs = [Job(SPACE.parse("d1_w32_relu_batchnorm_avgpool"), 0)]
    protocol = Protocol(epochs=2)
    counted = CountingSpace()
    [once] = run_jobs(jobs, counted, data, digits.val, digits.val, protocol, workers=1)
    assert counted.scored == len(digits.val)
    counted.scored = 0
    copy = TensorSet(digits.val.images.clone(), digits.val.labels.clone(), digits.val.num_classes)
    [twice] = run_jobs(jobs, counted, data, digits.val, copy, protocol, workers=1)
    assert counted.scored == 2 * len(digits.val)
    assert once.val_acc == once.test_acc == twice.val_acc == twice.test_acc
    assert once.train_loss == twice.train_loss


def test_a_task_moved_to_a_device_keeps_one_set_one(digits):
    task = TrainingTask(SPACE, digits.train, digits.val, digits.val, Protocol(epochs=1))
    moved = task.to(torch.device("meta"))
    assert moved.test is moved.val and moved.train.device.type == "meta"
