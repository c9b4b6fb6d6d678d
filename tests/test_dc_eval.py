"""The ``dc_eval`` networks against the references' own (tests/golden/dc_eval.safetensors, README there).

Each case: the network on 1x28x28, 3x32x32 or digits' 1x8x8 (resized to 28x28 for the reference's
MNIST networks; the fixture ran the reference on the same resize), its parameter count, the same
weights (redrawn here from the fixture's seed by the fixture's rule, checked by checksum), one forward
and backward pass in float64 (logits, loss, every parameter's gradient norm, the embedding), and the
default initialisation (``manual_seed(3)``, then the constructor) drawing the reference's weights.

Tolerances: float64. On this machine (AVX-512) proxynas and the reference agree bit for bit; under
ATEN_CPU_CAPABILITY=avx2 the largest relative difference is 3e-12 (measured), except the gradients that
are zero by construction (a conv bias before a norm: ~1e-16, any relative difference), hence atol
1e-10 on gradient norms. rtol 1e-9 leaves a margin of ~300 while a layer that differs (a norm, a
padding, a pooling) moves the numbers by far more than 1e-3. The default-initialisation checksums are
float32 draws of the same generator: equal to 1e-6 relative.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from golden_support import checksum, load
from torch import nn

from proxynas.engine import Protocol, fit
from proxynas.errors import ProxynasError
from search_spaces import get_space, resolve_candidate
from search_spaces.dc_eval import NETS, SAME_AS

GOLDEN = load("dc_eval")
NAMES = list(GOLDEN.meta["reference_names"])
NORMS = (nn.GroupNorm, nn.BatchNorm2d, nn.LayerNorm)


@torch.no_grad()
def fill(model: nn.Module, seed: int) -> torch.Tensor:
    """The fixture's weights: uniform u in (-1, 1); conv/linear weights u*sqrt(6/fan_in), norm weights
    1 + 0.2u, biases 0.2u; parameters in module order. Returns (sum, sum of squares)."""
    g = torch.Generator().manual_seed(seed)
    total = torch.zeros(2, dtype=torch.float64)
    for m in model.modules():
        for name, p in m.named_parameters(recurse=False):
            u = torch.rand(p.shape, generator=g, dtype=torch.float64) * 2 - 1
            if isinstance(m, NORMS) and name == "weight":
                v = 1 + 0.2 * u
            elif name == "weight":
                v = u * math.sqrt(6.0 / p[0].numel())
            else:
                v = 0.2 * u
            p.copy_(v)
            total += torch.stack([v.sum(), v.pow(2).sum()])
    return total


def build(net: str, channels: int, side: int) -> nn.Module:
    space = get_space("dc_eval")
    return space.build(space.parse(net), (channels, side, side), 10)


def test_the_fixture_covers_every_network():
    assert set(NAMES) == set(NETS)
    cases = GOLDEN.meta["cases"]
    for net in NETS:
        assert {f"{net}.1x28", f"{net}.3x32"} <= set(cases)
        if net not in SAME_AS:  # the ConvNets' 8x8 case is dc_convnet's own rule (README in tests/golden)
            assert f"{net}.1x8" in cases


@pytest.mark.parametrize("case", GOLDEN.meta["cases"])
def test_forward_backward_matches_the_reference(case):
    net, shape = case.split(".")
    channels, side = (int(v) for v in shape.split("x"))
    model = build(net, channels, side).double()
    assert sum(p.numel() for p in model.parameters()) == int(GOLDEN[f"{case}.params"].item())
    torch.testing.assert_close(fill(model, 1000 + NAMES.index(net)), GOLDEN[f"{case}.weights_checksum"],
                               rtol=1e-12, atol=0)
    x = torch.randn(4, channels, side, side, generator=torch.Generator().manual_seed(7 + side + channels),
                    dtype=torch.float64)
    assert torch.equal(checksum(x), GOLDEN[f"{case}.input_checksum"])
    model.train()
    logits = model(x)
    loss = F.cross_entropy(logits, torch.tensor(GOLDEN.meta["labels"]))
    loss.backward()
    torch.testing.assert_close(logits.detach(), GOLDEN[f"{case}.logits"], rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(loss.detach().reshape(1), GOLDEN[f"{case}.loss"], rtol=1e-9, atol=0)
    grads = torch.stack([p.grad.norm() for p in model.parameters()])
    torch.testing.assert_close(grads, GOLDEN[f"{case}.grad_norms"], rtol=1e-9, atol=1e-10)
    if f"{case}.embed_checksum" in GOLDEN.tensors:
        with torch.no_grad():
            features = get_space("dc_eval").embed(model, x)
        torch.testing.assert_close(checksum(features), GOLDEN[f"{case}.embed_checksum"], rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("case", [c for c in GOLDEN.meta["cases"] if c.endswith(".3x32") or c.endswith(".1x8")])
def test_default_initialisation_draws_the_references_weights(case):
    net, shape = case.split(".")
    channels, side = (int(v) for v in shape.split("x"))
    torch.manual_seed(3)
    model = build(net, channels, side)
    got = torch.stack([checksum(p) for p in model.parameters()]).sum(0)
    torch.testing.assert_close(got, GOLDEN[f"{case}.init_checksum"], rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("net", NETS)
def test_every_network_trains_a_step_on_digits(net, digits):
    space = get_space("dc_eval")
    candidate = space.parse(net)
    model = space.build_stack([candidate], [0], digits.shape, 10)
    data = digits.train.subset(torch.arange(20))
    before = [p.detach().clone() for p in model.parameters()]
    report = fit(model, data, Protocol(epochs=1, batch_size=20), [0])
    assert torch.isfinite(report.final_loss).all()
    assert any(not torch.equal(a, p) for a, p in zip(before, model.parameters(), strict=True))


def test_ids_qualified_and_same_as():
    assert resolve_candidate("dc_eval:resnet18ap", "dc_convnet").id == "resnet18ap"
    for net, other in SAME_AS.items():
        a, b = build(net, 1, 28), resolve_candidate(other, "dc_eval")
        assert sum(p.numel() for p in a.parameters()) == sum(
            p.numel() for p in get_space(b.space).build(b, (1, 28, 28), 10).parameters())
    with pytest.raises(ProxynasError, match="not a dc_eval candidate id"):
        get_space("dc_eval").parse("resnet19")
