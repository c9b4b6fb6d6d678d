"""Registries take their entries from decorators on the things registered, and name unknown names."""

from __future__ import annotations

import pytest

from condensed import METHODS
from condensed.dc import DC
from proxynas.augment import AUGMENTS
from proxynas.datasets.registry import DATASETS
from proxynas.errors import UnknownNameError
from proxynas.registry import Registry
from search_spaces import SPACES
from search_spaces.nb201 import NB201Space


def test_decorators_register_functions_and_class_instances():
    things: Registry[object] = Registry("thing")

    @things.register("double")
    def double(x: int) -> int:
        return 2 * x

    @things.register_class
    class Box:
        name = "box"

    assert double(2) == 4 and things.get("double") is double  # the decorated name stays usable
    assert isinstance(things.get("box"), Box) and things.names() == ["box", "double"] and len(things) == 2
    with pytest.raises(ValueError, match="thing 'box' is registered twice"):
        things.register_class(Box)
    with pytest.raises(UnknownNameError, match=r"unknown thing 'dubble'.*did you mean 'double'"):
        things.get("dubble")


def test_the_project_registries_are_filled_by_their_decorators():
    assert isinstance(SPACES.get("nb201"), NB201Space) and {"dc_convnet", "nb201"} <= set(SPACES)
    assert type(METHODS.get("dc")) is DC and {"random", "herding", "kcenter", "dsa", "dm", "idc", "idc-i"} <= set(
        METHODS)
    assert {"digits", "mnist", "fashion_mnist", "svhn", "cifar10", "cifar100"} <= set(DATASETS)
    assert AUGMENTS.names() == ["crop_scale_rotate", "dsa", "idc", "idc_cutout", "none"]
