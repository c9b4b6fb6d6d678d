"""Condensation draws its network from any registered space: ``net`` is a space-qualified candidate id."""

from __future__ import annotations

import pytest
import torch

from condensed import Context, get_method
from proxynas.datasets import dataset_info
from proxynas.errors import ProxynasError, UnknownNameError

CELL = "nb201:|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|avg_pool_3x3~0|none~1|nor_conv_3x3~2|"


def learn(method: str, digits, **settings):
    impl = get_method(method)
    ctx = Context(dataset_info("digits"), torch.device("cpu"), 0)
    return impl.learn(digits.train, 1, impl.settings(**settings), ctx)


@pytest.mark.parametrize(("method", "settings"), [
    ("dm", {"iterations": 2, "batch_real": 16}),  # mean embeddings: the space's embed
    pytest.param("dc", {"iterations": 1, "batch_real": 8, "outer_loop": 1, "inner_loop": 1},
                 marks=pytest.mark.slow),  # gradient matching, batch norms frozen on real images
    pytest.param("idc", {"iterations": 1, "inner_loop": 1, "batch_real": 8, "n_data": 16},
                 marks=pytest.mark.slow),
])
def test_methods_condense_with_an_nb201_cell(digits, method, settings):
    result = learn(method, digits, net=CELL, **settings)
    assert len(result.losses) == settings["iterations"] and all(torch.isfinite(torch.tensor(result.losses)))
    learned = result.data.images
    assert learned.shape[0] == 10 and torch.isfinite(learned).all()
    if method != "idc":  # DM and DC start from real images and move them (IDC keeps pixel-space mosaics)
        assert not any(torch.equal(learned[0], image) for image in digits.train.images[digits.train.labels == 0])


def test_a_bare_id_is_a_dc_convnet_candidate(digits):
    bare = learn("dm", digits, net="d1_w32_relu_instancenorm_avgpool", iterations=2, batch_real=8)
    qualified = learn("dm", digits, net="dc_convnet:d1_w32_relu_instancenorm_avgpool", iterations=2, batch_real=8)
    assert torch.equal(bare.data.images, qualified.data.images) and bare.losses == qualified.losses


@pytest.mark.parametrize(("net", "error", "message"), [
    ("nb202:d1_w32_relu_none_none", UnknownNameError, "unknown search space 'nb202'.*did you mean 'nb201'"),
    ("nb201:d1_w32_relu_none_none", ProxynasError, "not a nb201 candidate id"),
    ("nb201:", ProxynasError, "names no candidate"),
])
def test_bad_nets_are_refused_when_the_settings_are_made(net, error, message):
    for method in ("dm", "idc"):
        with pytest.raises(error, match=message):
            get_method(method).settings(net=net)
