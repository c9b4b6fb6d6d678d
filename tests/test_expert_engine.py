"""#21 item 1: MTT/FTD experts trained through the engine (stacked, any executor, resumable after a kill).

- An engine epoch of an expert, alone or in a stack of two, SGD or GSAM, is bitwise the one-network epoch
  that the golden tests hold equal to both references (``expert_epoch``), given the same batch order.
- ``serial``, ``local`` (two workers, stacks of two) and ``ray`` (local) write the same expert files,
  byte for byte.
- ``proxynas experts`` killed with SIGKILL in a subprocess and run again writes the same files, byte for
  byte, as a run never killed.
- A stack restored from a kept epoch (momentum, BatchNorm statistics, a learning-rate drop, DSA, CutMix)
  trains on bitwise as the stack never stopped.
- The protocol's key keeps plain SGD's; GSAM is in it; a fused stack cannot step GSAM (a clear error).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import torch

from condensed.experts import ExpertSettings, expert_epoch, open_set, train_experts
from condensed.synthetic import network_builder
from proxynas import paths
from proxynas.augment import make_augment
from proxynas.datasets import dataset_info
from proxynas.engine import Job, Protocol, run_jobs
from proxynas.engine.executors import ExecutorOptions, SerialExecutor
from proxynas.engine.stack import seeded
from proxynas.engine.steps import model_parameters
from proxynas.errors import ProxynasError
from proxynas.scaleout.plugin import RayOptions
from proxynas.spaces import PlainStacks
from search_spaces import get_space

NET = "dc_convnet:d1_w32_relu_instancenorm_avgpool"  # small: seconds on a CPU
INFO = dataset_info("digits")


@pytest.fixture
def small(digits):
    return digits.train.subset(torch.arange(200))


def expert_files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.glob("seed*/epoch*.safetensors"))}


@pytest.mark.parametrize("optimizer", ["sgd", "gsam"])
def test_an_engine_expert_epoch_alone_or_stacked_is_the_golden_tested_epoch(home, small, optimizer):
    settings = ExpertSettings(net=NET, optimizer=optimizer, augment="none", batch=64)  # 4 steps, one partial
    experts = open_set(paths.home(), "digits", small, settings, create=True)
    train_experts(experts, small, INFO, settings, [3, 4], 2, executor=ExecutorOptions(name="serial"), stack=2)
    _, build = network_builder(NET, small)
    for seed in (3, 4):
        net = seeded(build, seed)
        sgd = torch.optim.SGD(net.parameters(), lr=settings.lr, momentum=settings.momentum)
        order = torch.Generator().manual_seed(seed)  # the engine's batch order (engine.fit): the seed's own
        assert torch.equal(torch.cat([p.reshape(-1) for p in net.parameters()]), experts.flat(seed, 0))
        for epoch in (1, 2):
            expert_epoch(net, sgd, small, settings, None, order, order=torch.randperm(len(small), generator=order))
            after = torch.cat([p.detach().reshape(-1) for p in net.parameters()])
            assert not torch.equal(after, experts.flat(seed, epoch - 1))  # it moved
            assert torch.equal(after, experts.flat(seed, epoch))  # the same operations: bitwise


@pytest.mark.slow
def test_serial_local_and_ray_write_the_same_expert_files(home, small):
    ray = pytest.importorskip("ray")
    settings = ExpertSettings(net=NET, optimizer="gsam", batch=64)  # DSA, as the references
    runs = {"serial": (ExecutorOptions(name="serial"), 1), "local": (ExecutorOptions(name="local", workers=2), 2),
            "ray": (RayOptions(device="cpu", address=None), 1)}
    files = {}
    for name, (options, stack) in runs.items():
        root = paths.home() / name
        experts = open_set(root, "digits", small, settings, create=True)
        if name == "ray":
            ray.init(address="local", num_cpus=2, include_dashboard=False)
        try:
            train_experts(experts, small, INFO, settings, [0, 1, 2], 2, executor=options, stack=stack)
        finally:
            if name == "ray":
                ray.shutdown()
        files[name] = expert_files(experts.root)
        assert (experts.root / "seed2" / "result.json").exists()
    assert len(files["serial"]) == 9  # 3 experts, epochs 0..2
    assert files["local"] == files["serial"] and files["ray"] == files["serial"]


EPOCHS = 4


def cli() -> list[str]:
    return [sys.executable, "-m", "proxynas", "experts", "--dataset", "digits", "--net", NET, "--experts", "2",
            "--epochs", str(EPOCHS), "--device", "cpu", "--executor", "serial", "--stack", "2"]


@pytest.mark.slow
def test_a_killed_expert_run_resumes_to_the_files_of_a_run_never_killed(home, digits, tmp_path):
    settings = ExpertSettings(net=NET)  # MTT's: SGD, DSA, as the command trains them
    whole = open_set(paths.home(), "digits", digits.train, settings, create=True)
    train_experts(whole, digits.train, INFO, settings, [0, 1], EPOCHS, executor=ExecutorOptions(name="serial"),
                  stack=2)
    expected = expert_files(whole.root)
    assert len(expected) == 2 * (EPOCHS + 1)

    killed = tmp_path / "killed"
    # as this process trains (conftest): one intra-op thread; bitwise equality holds at equal threads
    env = os.environ | {"PROXYNAS_HOME": str(killed), "OMP_NUM_THREADS": str(torch.get_num_threads())}
    root = killed / "experts" / "digits" / whole.root.name
    process = subprocess.Popen(cli(), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while not (root / "seed1" / "epoch001.safetensors").exists() and process.poll() is None \
            and time.monotonic() < deadline:
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    assert process.wait(timeout=60) == -signal.SIGKILL  # killed, not finished
    left = expert_files(root)
    assert 4 <= len(left) < len(expected)  # it stopped part way: epoch 1 written, not all
    assert all(left[name] == expected[name] for name in left)  # what it wrote is already final

    subprocess.run(cli(), env=env, check=True, capture_output=True, timeout=600)
    assert expert_files(root) == expected
    assert (root / "seed1" / "result.json").exists()


def test_plain_sgd_keeps_its_protocol_key_and_gsam_is_in_the_key():
    assert Protocol().key() == "babfca48f0ea"  # the key before optimizers existed (51d6896): results stay found
    assert Protocol(optimizer="sgd", rho=0.5).key() == Protocol().key()  # GSAM's settings do not touch SGD's
    gsam = Protocol(optimizer="gsam")
    assert gsam.key() != Protocol().key() and gsam.key() != Protocol(optimizer="gsam", rho=0.02).key()
    assert Protocol.from_dict(gsam.describe()) == gsam
    assert "gsam rho 0.01" in gsam.summary()
    with pytest.raises(ProxynasError, match="unknown optimizer 'adam'"):
        Protocol(optimizer="adam")


def test_gsam_on_a_fused_stack_is_a_clear_error(digits):
    space = get_space("dc_convnet")
    candidate = space.parse(NET.split(":")[1])
    fused = space.build_stack([candidate, candidate], [0, 1], digits.train.shape, digits.train.num_classes)
    with pytest.raises(ProxynasError, match="gsam optimizer needs each model's parameters apart"):
        model_parameters(fused, 2)


@dataclass
class KeptInMemory:
    """Snapshots kept in this process (the serial executor's): each epoch's tensors per seed."""

    start_from: int = 0  # restore this epoch's kept state (0: train from the start)
    kept: dict[tuple[int, int], dict[str, torch.Tensor]] = field(default_factory=dict)

    def restore(self, jobs, state) -> int:
        if self.start_from:
            for g, job in enumerate(jobs):
                state.load_model(g, self.kept[job.seed, self.start_from])
        return self.start_from

    def save(self, jobs, epoch, losses, state) -> None:
        for g, job in enumerate(jobs):
            self.kept[job.seed, epoch] = state.model_tensors(g)


def test_a_stack_restored_from_a_kept_epoch_trains_on_as_if_never_stopped(digits):
    """Momentum, BatchNorm statistics, a learning-rate drop, DSA and CutMix: every stream restored."""
    space = PlainStacks(get_space("dc_convnet"))  # a ListStack of two (snapshots keep each model apart)
    jobs = [Job(space.space.parse("d1_w32_relu_batchnorm_avgpool"), seed) for seed in (0, 1)]
    protocol = Protocol(epochs=3, batch_size=64, momentum=0.9, milestones=("1/3",), augment="dsa", mixup="cutmix")
    train = digits.train.subset(torch.arange(150))

    def run(snapshots: KeptInMemory) -> list:
        return list(run_jobs(jobs, space, train, digits.val, digits.val, protocol, max_models=2,
                             augment=make_augment("dsa", INFO), executor=SerialExecutor(), snapshots=snapshots))

    whole, resumed = KeptInMemory(), None
    first = run(whole)
    assert protocol.decay_epochs() == [1] and any(k.startswith("optim.momentum_buffer.") for k in whole.kept[0, 1])
    assert any(k.startswith("buffer.") and k.endswith("running_mean") for k in whole.kept[0, 1])
    resumed = KeptInMemory(start_from=1, kept={key: v for key, v in whole.kept.items() if key[1] <= 1})
    again = run(resumed)
    for seed in (0, 1):
        for epoch in (2, 3):
            assert resumed.kept[seed, epoch].keys() == whole.kept[seed, epoch].keys()
            assert all(torch.equal(resumed.kept[seed, epoch][k], whole.kept[seed, epoch][k])
                       for k in whole.kept[seed, epoch])
    assert [(o.val_acc, o.train_loss) for o in again] == [(o.val_acc, o.train_loss) for o in first]
