"""The contract every registered executor keeps (the engine's invariant): the same outcomes as ``serial``.

Four digits candidates with DSA augmentation, one model per stack and then two per stack, trained by each
registered executor on the CPU: every outcome's status, loss and accuracies equal serial's bit for bit
(one module per model: the CPU adds up in the same order wherever a stack trains). A new executor,
registered in the package or behind a ``proxynas.executors`` entry point, is tested here with no edit;
``ray`` starts a local Ray in this process and shuts it down after.
"""

from __future__ import annotations

import sys

import pytest
import torch

from proxynas.augment import make_augment
from proxynas.datasets import dataset_info
from proxynas.engine import Job, Protocol, run_jobs
from proxynas.engine.executors import EXECUTORS, ExecutorOptions, list_executors, make_executor, options_for
from proxynas.errors import UnknownNameError
from proxynas.spaces import PlainStacks
from search_spaces import get_space

SPACE = get_space("dc_convnet")
PLAIN = PlainStacks(SPACE)  # one module per model
IDS = ["d1_w32_relu_instancenorm_avgpool", "d1_w32_sigmoid_batchnorm_avgpool",
       "d1_w32_leakyrelu_none_avgpool", "d1_w32_relu_groupnorm_avgpool"]
PROTOCOL = Protocol(epochs=2, batch_size=32)  # 4 steps an epoch on 100 images


def outcomes(name: str, digits, max_models: int) -> list[tuple]:
    executor = make_executor(ExecutorOptions(name=name, device="cpu", workers=2))
    jobs = [Job(SPACE.parse(i), seed) for i, seed in zip(IDS, (0, 1, 2, 3), strict=True)]
    found = {(o.job.candidate.id, o.job.seed): o
             for o in run_jobs(jobs, PLAIN, digits.train.subset(torch.arange(100)), digits.val, digits.test, PROTOCOL,
                               max_models=max_models, augment=make_augment("dsa", dataset_info("digits")),
                               executor=executor)}
    assert len(found) == len(jobs), f"{name} gave {len(found)} outcomes for {len(jobs)} jobs"
    return [(o.status, o.train_loss, o.val_acc, o.test_acc) for o in (found[j.candidate.id, j.seed] for j in jobs)]


@pytest.fixture(scope="module")
def serial(digits):
    return {m: outcomes("serial", digits, m) for m in (1, 2)}


@pytest.fixture
def no_ray_left():
    """Ray, when an executor started it in this process, is shut down after the test (other modules start
    their own)."""
    yield
    ray = sys.modules.get("ray")
    if ray is not None and ray.is_initialized():
        ray.shutdown()


def test_the_built_in_executors_are_registered():
    assert {"serial", "local", "threads", "ray"} <= set(list_executors())


@pytest.mark.parametrize("name", list_executors())
def test_an_executor_gives_the_outcomes_serial_gives(name, digits, serial, no_ray_left):
    if name == "ray":
        pytest.importorskip("ray", reason="the ray executor needs `pip install proxynas[ray]`")
    for max_models in (1, 2):
        assert outcomes(name, digits, max_models) == serial[max_models], (name, max_models)
    assert all(status == "done" for status, *_ in serial[1])


@pytest.mark.parametrize("name", list_executors())
def test_an_executor_declares_options_the_shared_ones_convert_to(name):
    kind = EXECUTORS.get(name)
    assert kind.name == name and issubclass(kind.options, ExecutorOptions)
    options = options_for(ExecutorOptions(name=name, device="cpu", workers=3, memory_budget=0.5))
    assert isinstance(options, kind.options)
    assert (options.name, options.device, options.workers, options.memory_budget) == (name, "cpu", 3, 0.5)


def test_an_unknown_executor_lists_the_registered_ones():
    with pytest.raises(UnknownNameError) as err:
        make_executor(ExecutorOptions(name="seriall"))
    assert "did you mean 'serial'?" in str(err.value) and all(n in str(err.value) for n in list_executors())


def test_the_engine_does_not_import_the_ray_executor():
    """Ray registers itself through its entry point (pyproject.toml), as a third-party executor does."""
    import ast
    from pathlib import Path

    import proxynas.engine

    found = []
    for path in Path(proxynas.engine.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            found += [f"{path.name}: {n}" for n in names if n.startswith("proxynas.scaleout")]
    assert found == []
