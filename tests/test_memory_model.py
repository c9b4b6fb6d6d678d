"""The memory model (``engine.memory``): predicted peaks against the profiler's, stacks sized to a budget.

The tolerance. The trace sees every tensor torch allocates; what it cannot see is what a CPU kernel
allocates for itself through torch's allocator (oneDNN's reorders and scratch buffers), which the
profiler does see. Such buffers hold copies of the kernel's operands: a convolution's backward may
reorder its input and its output's gradient at once, so the prediction may miss by up to two of the
step's largest tensors (``Prediction.largest``). Measured on the demo's 21 kinds at batch 256
(the figures in benchmarks/results/README.md, 2-core shared CPU; ``benchmarks/memory_model.py``
records them): fp32 predictions are 0.80-1.00 of the measured peak, bf16 autocast 0.79-1.23, the largest gap
1.07 largest tensors (d2_w32_relu_none_none, at batch 64 as here). So: |predicted - measured| <=
2 x largest + 1% of the measured peak (the 1% for small allocations of the profiler's own). The test
runs at batch 64 to stay quick.
"""

from __future__ import annotations

import itertools
import json
import tomllib

import pytest
import torch

from proxynas.cli import main
from proxynas.engine import Accel, Job, Protocol
from proxynas.engine.executors import ExecutorOptions, LocalExecutor, make_executor
from proxynas.engine.memory import MemoryModel, StepShape, predict, sized_by_memory, sized_to_budget
from proxynas.engine.memory_measure import measured_peak, step_shape
from proxynas.engine.run import TrainingTask, plan_stacks
from proxynas.errors import ProxynasError
from proxynas.study.catalog import recipe_text
from search_spaces import get_space

SPACE = get_space("dc_convnet")


def demo_kinds() -> list[list]:
    """The demo-digits recipe's candidates, grouped by stack kind (one grouped stack per kind)."""
    spec = tomllib.loads(recipe_text("demo-digits"))["space"]
    candidates = SPACE.sample(spec["sample"], spec["sample_seed"], **{k: list(v) for k, v in spec["where"].items()})
    kinds: dict = {}
    for c in candidates:
        kinds.setdefault(SPACE.stack_key(c), []).append(c)
    return list(kinds.values())


def within(predicted, measured: int) -> bool:
    return abs(predicted.peak - measured) <= 2 * predicted.largest + 0.01 * measured


@pytest.mark.slow
def test_prediction_meets_the_profiler_for_every_stack_kind_of_the_demo(digits):
    kinds = demo_kinds()
    assert len(kinds) >= 10
    misses = []
    for members in kinds:
        predicted = predict(SPACE, members, step_shape(digits.train, 64, Accel()))
        measured = measured_peak(SPACE, members, digits.train, 64, Accel())
        if not within(predicted, measured):
            misses.append((members[0].id, len(members), predicted, measured))
    assert not misses


@pytest.mark.slow
@pytest.mark.skipif(torch.backends.cpu.get_cpu_capability() != "AVX512",
                    reason="CPU bf16 autocast on AVX2 kernels keeps fp32 copies the model does not model (measured "
                           "30.1 MB against 15.1 MB predicted for d2_w128 batchnorm); the prediction is CUDA's")
def test_bf16_autocast_predictions_meet_the_profiler(digits):
    accel = Accel(bf16=True)
    for ids in (["d3_w64_relu_instancenorm_avgpool", "d3_w64_sigmoid_layernorm_avgpool"],
                ["d2_w128_relu_batchnorm_none"]):
        members = [SPACE.parse(i) for i in ids]
        predicted = predict(SPACE, members, step_shape(digits.train, 128, accel))
        assert within(predicted, measured_peak(SPACE, members, digits.train, 128, accel)), ids


def test_peaks_grow_with_models_batch_and_precision_and_the_cache_serves_repeats():
    model = MemoryModel()
    jobs = [Job(c, 0) for c in SPACE.candidates(depth=2, width=32, pool="none")[:4]]
    step = StepShape(batch=64, images=512, input_shape=(1, 8, 8), num_classes=10)
    peaks = [model.peak(SPACE, jobs[:k], step) for k in (1, 2, 4)]
    assert peaks[0] < peaks[1] < peaks[2]
    assert model.peak(SPACE, jobs[:1], StepShape(128, 512, (1, 8, 8), 10)) > peaks[0]
    bf16 = model.peak(SPACE, jobs[:1], StepShape(64, 512, (1, 8, 8), 10, bf16=True, device_type="cuda"))
    assert bf16 < peaks[0]  # bf16 activations, fp32 master weights
    assert model.traces == 5
    assert model.peak(SPACE, list(reversed(jobs[:2])), step) == peaks[1] and model.traces == 5  # cached


def test_cuda_rounding_and_norms_in_fp32_only_add_bytes():
    jobs = [Job(SPACE.parse("d2_w32_relu_layernorm_none"), 0)]
    cpu = MemoryModel().peak(SPACE, jobs, StepShape(64, 512, (1, 8, 8), 10, bf16=True))
    cuda = MemoryModel().peak(SPACE, jobs, StepShape(64, 512, (1, 8, 8), 10, bf16=True, device_type="cuda"))
    assert cuda > cpu  # layer norm's fp32 output, and every allocation a multiple of 512 bytes


@pytest.mark.slow
def test_stacks_split_into_the_longest_parts_under_the_budget():
    model = MemoryModel()
    step = StepShape(batch=64, images=512, input_shape=(1, 8, 8), num_classes=10)
    jobs = [Job(c, 0) for c in SPACE.candidates(depth=2, width=32, pool="none")[:7]]
    budget = model.peak(SPACE, jobs[:3], step)
    parts = model.split([jobs], SPACE, step, budget)
    assert [j for part in parts for j in part] == jobs  # order kept, nothing lost
    assert all(model.peak(SPACE, part, step) <= budget for part in parts)
    for part, after in itertools.pairwise(parts):  # each part is the longest that fits
        assert model.peak(SPACE, [*part, after[0]], step) > budget
    assert model.split([jobs], SPACE, step, 1) == [[j] for j in jobs]  # too small a budget: one model each


@pytest.mark.slow
def test_the_executor_budget_sizes_the_plan_on_the_cpu(digits):
    jobs = [Job(c, 0) for c in SPACE.candidates(depth=1, width=32, pool="avgpool")[:6]]
    task = TrainingTask(SPACE, digits.train, digits.val, digits.test, Protocol(epochs=1))
    stacks = plan_stacks(jobs, SPACE, 6)
    assert sized_by_memory(stacks, task, LocalExecutor(1)) == stacks  # no budget on the CPU by default
    executor = make_executor(ExecutorOptions(workers=1, memory_budget=1e-9))
    assert sized_by_memory(stacks, task, executor) == [[j] for j in jobs]  # a tiny budget: one by one
    executor = make_executor(ExecutorOptions(workers=1, memory_budget=0.5))
    assert sized_by_memory(stacks, task, executor) == stacks  # a few MB: all fit


def test_a_space_that_cannot_be_traced_keeps_its_planned_stacks(caplog):
    class Untraceable:
        name = "untraceable"

        def stack_key(self, candidate):
            return 0

        def build_stack(self, candidates, seeds, shape, classes):
            raise RuntimeError("needs real tensors")

    jobs = [Job(c, 0) for c in SPACE.candidates(depth=1, width=32, pool="avgpool")[:2]]
    step = StepShape(batch=8, images=16, input_shape=(1, 8, 8), num_classes=10)
    assert sized_to_budget([jobs], Untraceable(), step, 10**9) == [jobs]
    assert "sized by count" in caplog.text


@pytest.mark.parametrize("bad", [0.0, -0.5, 1.5])
def test_a_bad_budget_is_a_clear_error(bad):
    with pytest.raises(ProxynasError, match="--memory-budget"):
        ExecutorOptions(memory_budget=bad)


def test_training_never_sees_the_fake_tensors(digits):
    before = torch.get_rng_state()
    predict(SPACE, [SPACE.default()], StepShape(16, 32, digits.shape, 10))
    assert torch.equal(before, torch.get_rng_state())  # the builders' seeding is undone
    assert not isinstance(torch.ones(1), torch._subclasses.fake_tensor.FakeTensor)


def test_the_cli_sizes_by_a_memory_budget_and_refuses_a_bad_one(home, capsys):
    argv = ["search", "--proxy", "random_digits_ipc5", "--arch", "d1_w32_relu_none_avgpool", "--arch",
            "d1_w32_sigmoid_none_avgpool", "--epochs", "1", "--device", "cpu", "--stack", "2", "--json"]
    assert main([*argv, "--memory-budget", "1.5"]) == 2
    err = capsys.readouterr().err
    assert "--memory-budget" in err and len(err.strip().splitlines()) == 1
    assert main([*argv, "--memory-budget", "0.5"]) == 0
    assert all(r["status"] == "done" for r in json.loads(capsys.readouterr().out)["results"])
