"""The search benchmark's yardsticks: the reference's schedule, and a GPU's peak found by its name."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from loops import reference_lrs, reference_train
from machine import gpu_peak, matmul_per_cpu_second

from proxynas.datasets.base import TensorSet
from proxynas.engine import Protocol
from search_spaces import get_space


def test_the_reference_schedule_is_evaluate_synsets():
    # VICO-UoE/DatasetCondensation utils.py: for ep in range(Epoch + 1): train one epoch, then
    # if ep in [Epoch // 2 + 1]: lr *= 0.1 and a new SGD
    lrs = reference_lrs(300, 0.01)
    assert len(lrs) == 301
    assert lrs[:152] == [0.01] * 152 and lrs[152:] == [pytest.approx(0.001)] * 149
    assert reference_lrs(2, 0.01) == [0.01] * 3  # the decay would follow the last epoch
    assert reference_lrs(4, 0.01) == [0.01] * 4 + [pytest.approx(0.001)]


def test_the_reference_loop_trains_epoch_plus_one_epochs():
    space = get_space("dc_convnet")
    model = space.build(space.parse("d1_w32_relu_none_avgpool"), (1, 8, 8), 10)
    batches = []
    model.register_forward_hook(lambda m, args, out: batches.append(len(out)))
    g = torch.Generator().manual_seed(0)
    data = TensorSet(torch.randn(300, 1, 8, 8, generator=g), torch.randint(0, 10, (300,), generator=g), 10)
    loss = reference_train(model, data, Protocol(epochs=4), seed=0)
    assert batches == [256, 44] * 5 and loss > 0


@pytest.mark.parametrize(("name", "kind", "bf16"), [
    ("NVIDIA H100 80GB HBM3", "H100 SXM", 989.5), ("NVIDIA H100 PCIe", "H100 PCIe", 756.5),
    ("NVIDIA H100 NVL", "H100 NVL", 835.5), ("NVIDIA H200", "H200 SXM", 989.5), ("NVIDIA H200 NVL", "H200 NVL", 835.5)])
def test_gpu_peaks_are_the_dense_datasheet_figures_by_name(name, kind, bf16):
    peak = gpu_peak(name)
    assert peak is not None and peak.name == kind and peak.bf16 == bf16 and peak.tf32 == pytest.approx(bf16 / 2, 0.01)


def test_an_unlisted_gpu_has_no_peak_and_the_cpu_rate_is_measured():
    assert gpu_peak("NVIDIA A100-SXM4-80GB") is None
    assert matmul_per_cpu_second(n=128, repeat=1) > 1e8
