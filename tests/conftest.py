"""Fixtures shared by the test modules."""

from __future__ import annotations

import pytest
import torch

torch.set_num_threads(1)  # small test workloads run fastest, and steadiest, on one thread


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A fresh ``$PROXYNAS_HOME`` (proxy store and results store) for one test."""
    path = tmp_path / "home"
    monkeypatch.setenv("PROXYNAS_HOME", str(path))
    return path


@pytest.fixture(scope="session")
def digits():
    """The embedded digits dataset, split (loaded once per test session)."""
    from proxynas.datasets import load_dataset

    return load_dataset("digits")
