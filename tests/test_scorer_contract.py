"""The contract every registered scorer keeps: it declares its cost, and gives one score per candidate.

A scorer that computes zero-cost measures (``Scorer.measures``) is run through ``proxynas score`` on three
dc_convnet candidates of the digits: one score per candidate (a number, or None where the measure is
undefined for it) and the seconds it took, stored, so a rerun gives the same. A scorer that trains declares
what its training costs; its numbers are training runs (the engine's contract, ``test_executor_contract``);
one that reads a table or computes its side itself is compared in ``test_scorers_compared``. A new scorer,
in the package or behind a ``proxynas.scorers`` entry point, is tested here with no edit.
"""

from __future__ import annotations

import json
import math

import pytest

from proxynas.cli import main
from proxynas.scoring import get_scorer, list_scorers

SCORERS = list_scorers()
ARGS = ["--space", "dc_convnet", "--dataset", "digits", "--sample", "3", "--batch-size", "16", "--json"]


def test_the_built_in_scorers_are_registered():
    assert {"params", "flops", "synflow", "snip", "vote", "early_stopping"} <= set(SCORERS)


@pytest.mark.parametrize("name", SCORERS)
def test_a_scorer_declares_its_cost(name):
    scorer = get_scorer(name)
    assert scorer.name == name and isinstance(scorer.cost, str) and scorer.cost.strip()
    assert scorer.describe().startswith(f"{name}: ")
    assert all(need in SCORERS for need in scorer.needs)


@pytest.mark.parametrize("name", [n for n in SCORERS if get_scorer(n).measures()])  # what `score` computes
def test_a_scorer_gives_one_score_per_candidate_with_its_seconds(name, home, capsys):
    assert main(["score", name, *ARGS]) == 0
    found = json.loads(capsys.readouterr().out)
    assert found["scorer"] == name and len(found["scores"]) == 3
    assert all(v is None or (isinstance(v, float) and math.isfinite(v)) for v in found["scores"].values())
    assert found["seconds"] >= 0.0
    assert main(["score", name, *ARGS]) == 0  # stored: the rerun reads the same scores
    assert json.loads(capsys.readouterr().out)["scores"] == found["scores"]
