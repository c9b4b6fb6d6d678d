"""Stack checkpoints (``engine.checkpoint``): a stack stopped mid-epoch, split after running out of
memory, or retried in another trainer resumes from its last checkpoint and ends bit for bit where an
uninterrupted training ends; a checkpoint of other code is ignored; the driver removes a stack's file
once its outcomes are stored."""

from __future__ import annotations

import logging

import pytest
import torch
from test_engine_invariant import IDS, PLAIN, SPACE, FailsAtStep

from proxynas.augment import make_augment
from proxynas.datasets import dataset_info
from proxynas.engine import Accel, Job, Protocol
from proxynas.engine.checkpoint import Checkpoints, CheckpointSettings, models_prefix
from proxynas.engine.run import TrainingTask
from proxynas.engine.stopping import Halted

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


PROTOCOLS = {
    "dsa, lr drop": Protocol(epochs=4, batch_size=32, augment="dsa"),
    "cutmix, new optimizer at the drop": Protocol(epochs=3, batch_size=32, schedule="evaluate_synset",
                                                  mixup="cutmix", mix_p=1.0),
}


@pytest.mark.parametrize("name", list(PROTOCOLS))
def test_a_stack_stopped_mid_epoch_resumes_bitwise(digits, tmp_path, caplog, name):
    protocol = PROTOCOLS[name]
    task = task_for(PLAIN, digits, protocol, folder=tmp_path)
    plain = task.trainer().train_stack(jobs())
    unsaved = task_for(PLAIN, digits, protocol, CheckpointSettings(0, 0)).trainer().train_stack(jobs())
    assert results(unsaved) == results(plain)  # saving changes nothing
    for path in tmp_path.iterdir():
        path.unlink()
    with pytest.raises(Halted):
        task.trainer(stop=StopAt(4 * 3 + 2)).train_stack(jobs())  # the last epoch's second step
    assert len(list(tmp_path.iterdir())) == 1
    with caplog.at_level(logging.WARNING, "proxynas.engine.checkpoint"):
        resumed = task.trainer().train_stack(jobs())  # another trainer: as another process would
    assert "from epoch 3" in caplog.text
    assert results(resumed) == results(plain)
    assert resumed[0].checkpoint == (str(next(tmp_path.iterdir())), 2)


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
    assert len(halves) == 2 and {p.name for p in (tmp_path / "b").iterdir()} == {p.rsplit("/", 1)[1] for p, _ in halves}


def test_a_fused_stack_says_its_halves_start_from_epoch_0(digits):
    fused = SPACE.build_stack([j.candidate for j in jobs(2)], [0, 1], digits.train.shape, 10)
    assert models_prefix(fused) is None
    assert models_prefix(FailsAtStep(PLAIN.build_stack([j.candidate for j in jobs(2)], [0, 1],
                                                       digits.train.shape, 10), 0)) == "stack.models."


def test_a_checkpoint_of_other_code_is_ignored_with_a_log_line(digits, tmp_path, caplog, monkeypatch):
    protocol = Protocol(epochs=3, batch_size=32)
    task = task_for(PLAIN, digits, protocol, folder=tmp_path)
    plain = task.trainer().train_stack(jobs())
    next(tmp_path.iterdir()).unlink()
    with pytest.raises(Halted):
        task.trainer(stop=StopAt(4 * 2 + 1)).train_stack(jobs())
    import proxynas

    monkeypatch.setattr(proxynas, "__version__", "0.0.0-other")
    with caplog.at_level(logging.WARNING, "proxynas.engine.checkpoint"):
        again = task.trainer().train_stack(jobs())
    assert "written by another code (proxynas '0.1.0' in the file, '0.0.0-other' here)" in caplog.text
    assert "resuming" not in caplog.text
    assert results(again) == results(plain)
