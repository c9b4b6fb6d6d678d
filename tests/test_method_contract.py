"""The contract every registered condensation method keeps; a new method is tested by this file alone.

Each method runs with the settings it declares for a run of seconds (``Method.quick``) on 300 digits
training images: it condenses them into a proxy of the right shape with its labels sorted by class, its
card round-trips through the proxy file, its declared evaluation protocol builds, and a run killed half
way resumes from its checkpoint and ends as an unbroken run does (a coreset: a second run picks the
same images and leaves no checkpoint).
"""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from condensed import get_method, list_methods
from condensed.make import make_proxy
from condensed.registry import KINDS
from condensed.reuse import checkpoint_path
from proxynas.presets import list_presets, method_preset, protocol_for
from proxynas.proxies import ProxyCard, ProxyLibrary

METHODS = list_methods()


class Killed(Exception):
    pass


@pytest.fixture(scope="module")
def small(digits):
    """Digits with a 300-image training split."""
    return replace(digits, train=digits.train.subset(torch.arange(300)))


@pytest.fixture(scope="module")
def shared_home(tmp_path_factory):
    """One ``$PROXYNAS_HOME`` for the module: experts a method trains first (MTT, FTD) are trained once."""
    with pytest.MonkeyPatch.context() as patch:
        path = tmp_path_factory.mktemp("methods") / "home"
        patch.setenv("PROXYNAS_HOME", str(path))
        yield path


def test_the_built_in_methods_are_registered():
    assert {"random", "herding", "kcenter", "dc", "dsa", "dm", "idc", "idc-i", "mtt", "ftd"} <= set(METHODS)


@pytest.mark.parametrize("name", METHODS)
def test_a_method_declares_its_kind_protocol_and_quick_settings(name):
    impl = get_method(name)
    assert impl.name == name and impl.kind in KINDS
    assert method_preset(name) == impl.protocol and impl.protocol in list_presets()
    assert protocol_for(impl.protocol, "digits", {"ipc": 1}).epochs >= 1
    impl.settings(**impl.quick)  # its quick settings are settings it has


@pytest.mark.parametrize("name", METHODS)
def test_a_method_condenses_digits_and_its_card_round_trips(name, small, shared_home, tmp_path):
    impl = get_method(name)
    store = ProxyLibrary(tmp_path / "proxies")
    proxy = make_proxy(store, name, small, 2, seed=1, **impl.quick)
    data = proxy.data
    assert data.shape == (1, 8, 8) and data.num_classes == 10 and len(data) % 20 == 0  # IDC: factor² per image
    assert torch.equal(data.labels, data.labels.sort().values) and set(data.labels.tolist()) == set(range(10))
    assert torch.isfinite(data.images).all()
    card = proxy.card
    assert (card.method, card.dataset, card.ipc, card.seed) == (name, "digits", 2, 1)
    assert card.settings["kind"] == impl.kind and card.source_fingerprint == small.train.fingerprint()
    assert ProxyCard.from_json(card.to_json()) == card
    again = ProxyLibrary(tmp_path / "proxies").load(proxy.name)
    assert again.card == card and torch.equal(again.data.images, data.images)


@pytest.mark.parametrize("name", METHODS)
def test_a_killed_run_resumes_from_its_checkpoint_and_ends_the_same(name, small, shared_home, tmp_path):
    impl = get_method(name)
    straight = make_proxy(ProxyLibrary(tmp_path / "straight"), name, small, 1, **impl.quick)
    store = ProxyLibrary(tmp_path / "resumed")
    if impl.kind == "coreset":
        again = make_proxy(store, name, small, 1, **impl.quick)
        assert torch.equal(again.data.images, straight.data.images)
        assert not checkpoint_path(store.root, again.name).exists()
        return
    total = impl.settings(**impl.quick).iterations  # type: ignore[attr-defined]  # synthetic settings
    assert total >= 2, f"{name}.quick runs {total} iteration(s): the contract kills a run after the first"

    def kill_after_first(done: int, total: int) -> None:
        if done == 1:
            raise Killed

    with pytest.raises(Killed):
        make_proxy(store, name, small, 1, progress=kill_after_first, **impl.quick)
    assert checkpoint_path(store.root, straight.name).exists()
    seen: list[int] = []
    resumed = make_proxy(store, name, small, 1, progress=lambda done, total: seen.append(done), **impl.quick)
    assert seen[0] == 1  # it started from the checkpoint, not from zero
    assert torch.equal(resumed.data.images, straight.data.images)
    assert resumed.card.settings == straight.card.settings
