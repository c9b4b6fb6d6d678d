"""The contract every registered evaluation protocol keeps: for every dataset and the facts a proxy card
gives, it builds a trainable :class:`~proxynas.engine.Protocol` named after it, whose augmentation is a
registered one, and says where its values come from. A new protocol, in ``proxynas/presets.py`` or behind a
``proxynas.presets`` entry point, is tested here with no edit; the methods' protocols are checked by
``test_method_contract``.
"""

from __future__ import annotations

import pytest

from proxynas.augment import AUGMENTS
from proxynas.datasets import list_datasets
from proxynas.presets import PRESETS, list_presets, protocol_for

NAMES = list_presets()
FACTS = [{}, {"ipc": 1, "factor": 1}, {"ipc": 10, "factor": 2, "syn_lr": 0.02}]


def test_the_built_in_protocols_are_registered():
    assert {"dc", "dsa", "dm", "idc", "mtt", "ftd"} <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_a_protocol_builds_for_every_dataset_and_says_its_source(name):
    named = PRESETS.get(name)
    assert named.name == name and named.source.strip()
    for dataset in list_datasets():
        for facts in FACTS:
            protocol = protocol_for(name, dataset, facts)
            assert protocol.name == name and protocol.epochs >= 1 and protocol.lr > 0
            assert protocol.augment in AUGMENTS
            exact = protocol_for(name, dataset, facts, exact=True)
            own_loop = protocol.schedule == "evaluate_synset"
            assert (exact.schedule == "evaluate_synset") == (named.exact_applies or own_loop)
