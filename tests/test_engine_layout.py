"""Each model's CPU memory layout: measured once per kind and machine, remembered, per candidate."""

from __future__ import annotations

import json

import pytest
import torch

from proxynas.engine import Accel, Job, Protocol, run_jobs
from proxynas.engine.layout import CHANNELS_LAST, CONTIGUOUS, LayoutChooser, machine_key, measure
from proxynas.engine.run import TrainingTask
from proxynas.spaces import PlainStacks
from search_spaces import get_space

SPACE = get_space("dc_convnet")
PLAIN = PlainStacks(SPACE)  # dc_convnet with plain ListStacks of one module per model
SHAPE = (1, 8, 8)
IDS = ["d2_w32_relu_batchnorm_maxpool", "d2_w32_relu_layernorm_maxpool", "d2_w64_sigmoid_instancenorm_none"]


def builder(candidate_id: str):
    return lambda: SPACE.build_stack([SPACE.parse(candidate_id)], [0], SHAPE, 10)


def is_channels_last(model: torch.nn.Module) -> bool:
    conv = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)][-1]  # with more than one in-channel
    return conv.weight.is_contiguous(memory_format=torch.channels_last) and not conv.weight.is_contiguous()


def test_both_layouts_are_timed_in_cpu_seconds():
    seconds = measure(builder(IDS[0]), SHAPE, 10, batch=32)
    assert set(seconds) == {CHANNELS_LAST, CONTIGUOUS} and all(s > 0 for s in seconds.values())


def test_a_decision_is_measured_once_stored_per_machine_and_read_back(tmp_path):
    path = tmp_path / "cpu_layouts.json"
    first = LayoutChooser(path).channels_last("kind-a", builder(IDS[0]), SHAPE, 10, 256)
    stored = json.loads(path.read_text())
    assert list(stored) == [machine_key()]
    [(entry, layout)] = stored[machine_key()].items()
    # the batch measured: min(256, 128); the layout stored is the one returned
    assert entry == "kind-a | 1x8x8 | batch 128" and layout == (CHANNELS_LAST if first else CONTIGUOUS)

    def must_not_measure():
        raise AssertionError("a stored decision was measured again")

    assert LayoutChooser(path).channels_last("kind-a", must_not_measure, SHAPE, 10, 256) == first


def test_without_a_writable_file_decisions_stay_in_memory(tmp_path):
    blocked = tmp_path / "file"
    blocked.write_text("")
    chooser = LayoutChooser(blocked / "cpu_layouts.json")  # its folder is a file: it cannot be written
    decided = chooser.channels_last("kind-b", builder(IDS[1]), SHAPE, 10, 64)
    assert chooser.channels_last("kind-b", lambda: pytest.fail("measured again"), SHAPE, 10, 64) == decided


def stored_decisions(path, layouts: dict[str, str], batch: int) -> None:
    entries = {f"{SPACE.layout_key(SPACE.parse(i))} | 1x8x8 | batch {batch}": v for i, v in layouts.items()}
    path.write_text(json.dumps({machine_key(): entries}))


def test_each_model_of_a_stack_takes_its_own_kinds_layout(home, digits):
    layouts = {IDS[0]: CHANNELS_LAST, IDS[1]: CONTIGUOUS, IDS[2]: CHANNELS_LAST}
    home.mkdir(parents=True, exist_ok=True)
    stored_decisions(home / "cpu_layouts.json", layouts, 128)
    task = TrainingTask(PLAIN, digits.train, digits.val, digits.test, Protocol(epochs=1),
                        accel=Accel(choose_layout=True))  # the CPU default; the suite pins contiguous
    # one stack of three different kinds (a plain ListStack): each model as its own kind decides
    jobs = [Job(SPACE.parse(i), 0) for i in IDS]
    stack = task.trainer().build(jobs)
    assert [is_channels_last(m) for m in stack.models] == [v == CHANNELS_LAST for v in layouts.values()]
    fp32 = TrainingTask(PLAIN, digits.train, digits.val, digits.test, Protocol(epochs=1), accel=Accel())
    assert not any(is_channels_last(m) for m in fp32.trainer().build(jobs).models)  # choose_layout off


def test_a_layout_moves_a_result_by_float_rounding_only(digits):
    data = digits.train.subset(torch.arange(512))
    jobs = [Job(SPACE.parse(i), 1) for i in IDS]
    protocol = Protocol(epochs=3, batch_size=128)
    runs = [list(run_jobs(jobs, SPACE, data, digits.val, digits.val, protocol, accel=accel, workers=1))
            for accel in (Accel(), Accel(channels_last=True))]
    for contiguous, channels_last in zip(*runs, strict=True):
        assert channels_last.train_loss == pytest.approx(contiguous.train_loss, rel=1e-4)
        assert abs(channels_last.val_acc - contiguous.val_acc) <= 2 / len(digits.val)


class CountingSpace(PlainStacks):
    """dc_convnet's plain stacks, counting every stack built through it."""

    def __init__(self) -> None:
        super().__init__(SPACE)
        self.sizes: list[int] = []

    def build_stack(self, candidates, seeds, shape, classes):
        self.sizes.append(len(candidates))
        return super().build_stack(candidates, seeds, shape, classes)


def test_measuring_a_layout_builds_nothing_through_the_space_and_leaves_the_model_as_it_was(home, digits):
    space = CountingSpace()
    task = TrainingTask(space, digits.train, digits.val, digits.test, Protocol(epochs=1, batch_size=16),
                        accel=Accel(choose_layout=True))
    jobs = [Job(SPACE.parse(i), s) for i, s in zip(IDS, (0, 1, 2), strict=True)]
    reference = PLAIN.build_stack([j.candidate for j in jobs], [j.seed for j in jobs], digits.shape, 10)
    rng = torch.random.get_rng_state()
    stack = task.trainer().build(jobs)  # an empty home: each of the three kinds is measured
    assert space.sizes == [3]  # the stack itself, nothing else
    assert torch.equal(torch.random.get_rng_state(), rng)
    assert len(json.loads((home / "cpu_layouts.json").read_text())[machine_key()]) == 3
    for built, expected in zip(stack.state_dict().values(), reference.state_dict().values(), strict=True):
        assert torch.equal(built, expected)  # weights and norm statistics untouched by the timing passes
    assert all(p.grad is None for p in stack.parameters())
