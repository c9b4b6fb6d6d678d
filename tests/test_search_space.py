import pytest
import torch

from proxynas.errors import ProxynasError, UnknownNameError
from search_spaces import get_space, list_spaces
from search_spaces.dc_convnet import feature_shapes


@pytest.fixture(scope="module")
def space():
    return get_space("dc_convnet")


def test_720_candidates_with_unique_round_tripping_ids(space):
    candidates = space.candidates()
    assert len(candidates) == len(space) == 720
    assert len({c.id for c in candidates}) == 720
    for c in candidates:
        assert space.parse(c.id) == c
    assert space.default().id == "d3_w128_relu_instancenorm_avgpool"


def test_sample_is_seeded_and_distinct(space):
    a, b = space.sample(30, seed=1), space.sample(30, seed=1)
    assert a == b and len({c.id for c in a}) == 30
    assert space.sample(30, seed=2) != a
    assert len(space.sample(10_000)) == 720


def test_filters(space):
    relu3 = space.candidates(depth=3, act="relu")
    assert len(relu3) == 4 * 5 * 3 and all(c["depth"] == 3 and c["act"] == "relu" for c in relu3)
    assert len(space.candidates(norm=["none", "batchnorm"])) == 720 * 2 // 5
    assert all(c["width"] == 32 for c in space.sample(5, seed=0, width=32))
    with pytest.raises(ProxynasError, match="no dimension 'colour'"):
        space.candidates(colour="red")
    with pytest.raises(ProxynasError, match="depth=7"):
        space.candidates(depth=7)


@pytest.mark.parametrize("bad", ["d3_w128_relu", "x3_w128_relu_none_none", "d3_w100_relu_none_none",
                                 "d03_w128_relu_none_none", "d3_w128_tanh_none_none"])
def test_bad_ids_are_clear_errors(space, bad):
    with pytest.raises(ProxynasError, match=r"candidate id|not a choice"):
        space.parse(bad)


def test_unknown_space_lists_valid_names():
    assert "dc_convnet" in list_spaces()
    with pytest.raises(UnknownNameError, match="did you mean 'dc_convnet'"):
        get_space("dc_convnets")


@pytest.mark.parametrize("shape", [(1, 8, 8), (1, 28, 28), (3, 32, 32)])
def test_every_candidate_builds_and_outputs_logits(space, shape):
    x = torch.randn(2, *shape)
    with torch.no_grad():
        for c in space.candidates():
            model = space.build(c, shape, 10)
            assert model(x).shape == (2, 10), c.id


def test_pooling_never_shrinks_below_one_pixel(space):
    shapes = feature_shapes(space.parse("d4_w32_relu_none_maxpool").config, (1, 8, 8))
    assert [s[1:] for s in shapes] == [(8, 8), (4, 4), (2, 2), (1, 1), (1, 1)]
    # 28x28 is padded to 32x32 by the first conv, as the reference ConvNet does
    assert feature_shapes(space.default().config, (1, 28, 28))[-1] == (128, 4, 4)


@pytest.mark.parametrize("shape", [(7, 5, 32, 32), (3, 4, 9, 7), (2, 1, 2, 2)])
def test_the_fast_average_pooling_is_torchs_bit_for_bit(shape):
    from search_spaces.pooling import AvgPool2x2

    x = torch.randn(*shape, generator=torch.Generator().manual_seed(1)) * 1e3
    grad = torch.randn(shape[0], shape[1], shape[2] // 2, shape[3] // 2, generator=torch.Generator().manual_seed(2))
    outs = []
    for pool in (AvgPool2x2(), torch.nn.AvgPool2d(2, 2)):
        leaf = x.clone().requires_grad_(True)
        y = pool(leaf)
        y.backward(grad)
        outs.append((y, leaf.grad))
    (fast, fast_grad), (torchs, torchs_grad) = outs
    assert torch.equal(fast, torchs) and torch.equal(fast_grad, torchs_grad)
    assert isinstance(AvgPool2x2(), torch.nn.AvgPool2d)  # the same kind of layer for whoever inspects it
    channels_last = x.contiguous(memory_format=torch.channels_last)
    assert torch.equal(AvgPool2x2()(channels_last), torch.nn.functional.avg_pool2d(channels_last, 2, 2))
