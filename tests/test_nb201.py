"""NAS-Bench-201 against the benchmark's own figures: 15,625 cells, 6,466 classes, published sizes."""

from __future__ import annotations

import pytest
import torch

from proxynas.cli import main
from proxynas.errors import ProxynasError
from search_spaces import get_space
from search_spaces.nb201_net import Cell, ResidualReduction

SPACE = get_space("nb201")

# Parameter counts NATS-Bench publishes (``params`` in MB = 1e6 parameters) for three architectures, read
# from the real benchmark files in D-X-Y/NATS-Bench ``fake_torch_dir/NATS-tss-v1_0-3ffb9-simple``
# (architecture indexes 0, 11, 284), for CIFAR-10 (10 classes) and CIFAR-100 (100 classes).
PUBLISHED = [
    ("|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|",
     0.129306, 0.135156),
    ("|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|none~0|nor_conv_3x3~1|avg_pool_3x3~2|",
     0.802426, 0.808276),
    ("|skip_connect~0|+|skip_connect~0|skip_connect~1|+|none~0|nor_conv_1x1~1|none~2|", 0.101306, 0.107156),
]


def test_15625_candidates_and_6466_isomorphism_classes():
    assert len(SPACE) == len(SPACE.candidates()) == 5**6 == 15_625
    assert len(SPACE.candidates(unique=True)) == 6_466  # NB201 paper and NATS-Bench's get_unique_str


@pytest.mark.parametrize(("arch", "cifar10_mb", "cifar100_mb"), PUBLISHED)
def test_ids_are_nb201_strings_and_sizes_match_the_published_ones(arch, cifar10_mb, cifar100_mb):
    candidate = SPACE.parse(arch)
    assert candidate.id == arch
    for classes, mb in ((10, cifar10_mb), (100, cifar100_mb)):
        model = SPACE.build(candidate, (3, 32, 32), classes)
        assert sum(p.numel() for p in model.parameters()) == round(mb * 1e6)


def test_edges_map_to_the_string_and_the_macro_skeleton():
    c = SPACE.parse(PUBLISHED[1][0])
    assert (c["e1_0"], c["e2_0"], c["e2_1"], c["e3_0"], c["e3_1"], c["e3_2"]) == (
        "nor_conv_3x3", "nor_conv_3x3", "avg_pool_3x3", "none", "nor_conv_3x3", "avg_pool_3x3")
    model = SPACE.build(c, (3, 32, 32), 10)
    blocks = list(model.cells)
    assert [type(b) for b in blocks] == [Cell] * 5 + [ResidualReduction] + [Cell] * 5 + [ResidualReduction] + \
        [Cell] * 5
    shapes = []
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        x = model.stem(x)
        for block in blocks:
            x = block(x)
            shapes.append(tuple(x.shape[1:]))
    assert shapes[4] == (16, 32, 32) and shapes[10] == (32, 16, 16) and shapes[16] == (64, 8, 8)
    assert SPACE.embed(model, torch.randn(2, 3, 32, 32)).shape == (2, 64)


def test_zero_edges_and_pooling_follow_the_reference():
    c = SPACE.parse("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|")
    model = SPACE.build(c, (1, 8, 8), 10).eval()
    with torch.no_grad():
        assert torch.equal(model.cells[0](torch.randn(2, 16, 8, 8)), torch.zeros(2, 16, 8, 8))
    pool = SPACE.build(SPACE.parse("|avg_pool_3x3~0|+|none~0|none~1|+|none~0|none~1|skip_connect~2|"),
                       (1, 8, 8), 10).cells[0]
    ones = torch.ones(1, 16, 4, 4)
    assert torch.equal(pool(ones), torch.zeros_like(ones))  # node 2 is zero, node 3 = skip(node 2)
    avg = pool.layers[0]
    assert torch.equal(avg(ones), ones)  # padding is left out of the average (count_include_pad=False)


def test_isomorphic_cells_share_a_key_and_others_do_not():
    def key(arch: str) -> object:
        return SPACE.canonical(SPACE.parse(arch))

    # node 1 feeds nothing: what it computes does not matter
    assert key("|skip_connect~0|+|none~0|none~1|+|nor_conv_3x3~0|none~1|none~2|") == \
        key("|nor_conv_1x1~0|+|none~0|none~1|+|nor_conv_3x3~0|none~1|none~2|")
    # a skip passes its source on: conv(skip(x)) is conv(x)
    assert key("|skip_connect~0|+|none~0|nor_conv_3x3~1|+|none~0|none~1|skip_connect~2|") == \
        key("|none~0|+|nor_conv_3x3~0|none~1|+|none~0|none~1|skip_connect~2|")
    assert key("|none~0|+|none~0|none~1|+|nor_conv_3x3~0|none~1|none~2|") != \
        key("|none~0|+|none~0|none~1|+|nor_conv_1x1~0|none~1|none~2|")
    # the reference's key of its ResNet cell
    assert key("|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|") == \
        "#+#+((0)@nor_conv_3x3)@nor_conv_3x3+0"


@pytest.mark.parametrize("bad", [
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|",  # two nodes
    "|nor_conv_5x5~0|+|none~0|none~1|+|none~0|none~1|none~2|",  # not an NB201 operation
    "|none~0|+|none~1|none~0|+|none~0|none~1|none~2|",  # inputs out of order
    "|none~1|+|none~0|none~1|+|none~0|none~1|none~2|",  # node 1 from itself
    "none~0+none~0|none~1+none~0|none~1|none~2",  # no bars
])
def test_bad_arch_strings_are_clear_errors(bad):
    with pytest.raises(ProxynasError, match="not a nb201 candidate id"):
        SPACE.parse(bad)


def test_space_command_counts_unique_cells(capsys):
    assert main(["space", "nb201", "--unique"]) == 0
    assert "nb201: 6466 non-isomorphic of 15625 candidates" in capsys.readouterr().out
    assert main(["space", "nb201", "--where", "e1_0=none", "--where", "e2_0=none", "--ids"]) == 0
    ids = capsys.readouterr().out.split()
    assert len(ids) == 5**4 and all(i.startswith("|none~0|+|none~0|") for i in ids)
