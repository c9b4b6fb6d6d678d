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


def test_built_in_modules_are_found_on_the_first_lookup_once_even_from_several_threads(tmp_path, monkeypatch):
    """A registry imports every module of its built-in package when first looked up (a new file there is
    found as it is); a thread looking up meanwhile waits for all of them instead of seeing a part."""
    import threading

    package = tmp_path / "their_builtins"
    package.mkdir()
    (package / "__init__.py").write_text("from proxynas.registry import Registry\n"
                                         "THINGS = Registry('thing', builtins=('their_builtins.*',))\n")
    for name in ("slow", "zfast"):
        delay = "import time; time.sleep(0.3)\n" if name == "slow" else ""
        (package / f"{name}.py").write_text(f"{delay}from their_builtins import THINGS\nTHINGS.register('{name}')(1)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    from their_builtins import THINGS  # type: ignore[import-not-found]

    seen: list[list[str]] = []
    threads = [threading.Thread(target=lambda: seen.append(THINGS.names())) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen == [["slow", "zfast"]] * 3 and "zfast" in THINGS
