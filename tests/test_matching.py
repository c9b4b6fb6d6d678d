"""Gradient distances of DC/DSA/IDC, checked by hand."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from condensed.matching import METRICS, gradient_distance, layer_distance, match_gradients
from proxynas.errors import ProxynasError


def grads(seed: int = 0) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(4, 3, 3, 3, generator=g), torch.randn(4, generator=g),  # conv weight, bias
            torch.randn(2, 36, generator=g), torch.randn(2, generator=g)]  # linear weight, bias


@pytest.mark.parametrize("metric", METRICS)
def test_identical_gradients_are_at_distance_zero(metric):
    assert float(gradient_distance(grads(), grads(), metric)) == pytest.approx(0.0, abs=1e-5)


def test_ours_ignores_biases_and_norm_parameters():
    syn, real = grads(0), grads(0)
    syn[1], syn[3] = -syn[1], syn[3] * 0 + 5.0
    assert float(gradient_distance(syn, real, "ours")) == pytest.approx(0.0, abs=1e-5)
    assert float(gradient_distance(syn, real, "mse")) > 1.0


def test_ours_is_one_minus_cosine_summed_over_output_rows():
    real = torch.tensor([[1.0, 0.0], [0.0, 2.0], [3.0, 4.0]])
    syn = torch.tensor([[0.0, 1.0], [0.0, -1.0], [6.0, 8.0]])  # orthogonal, opposite, same direction
    assert float(layer_distance(syn, real)) == pytest.approx(1.0 + 2.0 + 0.0, abs=1e-5)
    conv_real = real.view(3, 2, 1, 1)
    assert float(layer_distance(syn.view(3, 2, 1, 1), conv_real)) == pytest.approx(3.0, abs=1e-5)
    # rows are independent: the same layer with a scaled second row is still 3 away
    syn[1] *= 10
    assert float(gradient_distance([syn], [real], "ours")) == pytest.approx(3.0, abs=1e-5)


def test_whole_vector_metrics():
    syn = [torch.tensor([1.0, 2.0]), torch.tensor([[0.0, 1.0]])]
    real = [torch.tensor([1.0, 0.0]), torch.tensor([[1.0, 1.0]])]
    assert float(gradient_distance(syn, real, "mse")) == pytest.approx(4.0 + 1.0)
    assert float(gradient_distance(syn, real, "l1")) == pytest.approx(2.0 + 1.0)
    cosine = (1 * 1 + 2 * 0 + 0 * 1 + 1 * 1) / (6 ** 0.5 * 3 ** 0.5)
    assert float(gradient_distance(syn, real, "cos")) == pytest.approx(1 - cosine, abs=1e-5)


def test_unknown_metric_is_refused():
    with pytest.raises(ProxynasError, match="unknown gradient distance 'l2'"):
        gradient_distance(grads(), grads(), "l2")


def test_match_gradients_is_zero_for_the_same_batch_and_differentiable():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 16, 3))
    x = torch.randn(6, 1, 4, 4)
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    same = match_gradients(net, x, y, x.clone(), y)
    assert same.item() == pytest.approx(0.0, abs=1e-3)  # not exactly: the cosine's eps
    syn = torch.randn(3, 1, 4, 4, requires_grad=True)
    loss = match_gradients(net, x, y, syn, y[:3])
    (grad,) = torch.autograd.grad(loss, [syn])
    assert loss.item() > 0.1 and grad.abs().sum() > 0
    only_conv = match_gradients(net, x, y, syn, y[:3], params=[net[0].weight])
    assert 0 < only_conv.item() < loss.item()
