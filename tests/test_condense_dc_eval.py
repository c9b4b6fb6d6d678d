"""Proxies made with the evaluation networks (``--set net=dc_eval:ID``): every method whose reference
lets its network be chosen (DC, DSA and DM: ``--model``; IDC: ``--net_type resnet_ap``) learns with them.

Tiny digits settings: one iteration, a few real images per class. The networks see digits' 8x8
images resized to 28x28 (``search_spaces/dc_eval_nets.py``), gradients reach the images through that
resize, and the set's card names the network, so ``proxynas transfer`` marks its column.
"""

from __future__ import annotations

import pytest
import torch

from condensed import Context, get_method
from proxynas.datasets import dataset_info
from proxynas.proxies import ProxyCard
from proxynas.transfer import made_with


def learn(method: str, digits, **settings):
    impl = get_method(method)
    ctx = Context(dataset_info("digits"), torch.device("cpu"), 0)
    return impl.learn(digits.train, 1, impl.settings(**settings), ctx)


@pytest.mark.parametrize(("method", "net", "settings"), [
    pytest.param("dm", "dc_eval:resnet18ap", {"iterations": 1, "batch_real": 2},  # the example
                 marks=pytest.mark.slow),
    pytest.param("dsa", "dc_eval:alexnetbn", {"iterations": 1, "batch_real": 2, "outer_loop": 1, "inner_loop": 1},
                 marks=pytest.mark.slow),  # batch norms frozen on real images
    ("dc", "dc_eval:lenet", {"iterations": 1, "batch_real": 8, "outer_loop": 1, "inner_loop": 1}),
    pytest.param("idc", "dc_eval:resnetap10", {"iterations": 1, "inner_loop": 1, "batch_real": 4, "n_data": 8},
                 marks=pytest.mark.slow),
])
def test_methods_condense_with_an_evaluation_network(digits, method, net, settings):
    result = learn(method, digits, net=net, **settings)
    assert len(result.losses) == settings["iterations"] and all(torch.isfinite(torch.tensor(result.losses)))
    learned = result.data.images
    assert learned.shape[0] == 10 and torch.isfinite(learned).all()
    if method != "idc":  # they start from real images and move them (IDC keeps pixel-space mosaics)
        assert not any(torch.equal(learned[0], image) for image in digits.train.images[digits.train.labels == 0])


def test_the_card_names_the_network_it_was_made_with():
    card = ProxyCard("dm", "digits", 1, 0, 10, (1, 8, 8), "x", 0.0, settings={"net": "dc_eval:resnet18ap"})
    assert made_with(card).qualified_id == "dc_eval:resnet18ap"
    assert made_with(ProxyCard("random", "digits", 1, 0, 10, (1, 8, 8), "x", 0.0)) is None
