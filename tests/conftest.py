"""Fixtures shared by the test modules."""

from __future__ import annotations

import os

import pytest
import torch

torch.set_num_threads(1)  # small test workloads run fastest, and steadiest, on one thread


@pytest.fixture(scope="session", autouse=True)
def session_home(tmp_path_factory):
    """Every test session its own ``$PROXYNAS_HOME`` and a pinned CPU layout, set in ``os.environ`` so
    that subprocesses inherit them: no test reads or writes the user's stores or layout cache, and no
    outcome depends on a layout measured (and cached) on this machine (``engine.layout``)."""
    path = tmp_path_factory.mktemp("session") / "home"
    saved = {k: os.environ.get(k) for k in ("PROXYNAS_HOME", "PROXYNAS_CPU_LAYOUT")}
    os.environ["PROXYNAS_HOME"] = str(path)
    os.environ["PROXYNAS_CPU_LAYOUT"] = "contiguous"
    yield path
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A fresh ``$PROXYNAS_HOME`` (proxy library and results store) for one test."""
    path = tmp_path / "home"
    monkeypatch.setenv("PROXYNAS_HOME", str(path))
    return path


@pytest.fixture(scope="session")
def digits():
    """The embedded digits dataset, split (loaded once per test session)."""
    from proxynas.datasets import load_dataset

    return load_dataset("digits")
