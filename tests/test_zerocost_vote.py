"""``vote``: Copeland counts of the pairwise majority of synflow, jacob_cov and snip."""

from __future__ import annotations

import random

import proxynas.zerocost.vote as voting


def test_majority_of_three_rankings():
    scores = [{"a": 3, "b": 2, "c": 1}, {"a": 1, "b": 2, "c": 3}, {"a": 3, "b": 1, "c": 2, "d": 9}]
    assert voting.vote(scores) == {"a": 2.0, "b": 0.0, "c": 1.0}  # d is not scored by all three: left out


def test_blocks_give_the_pairwise_count(monkeypatch):
    rng = random.Random(0)
    ids = [f"c{i}" for i in range(50)]
    scores = [{c: float(rng.randint(0, 9)) for c in ids} for _ in range(3)]  # ties included
    monkeypatch.setattr(voting, "BLOCK", 7)
    got = voting.vote(scores)
    for a in ids:
        wins = sum(sum(s[a] > s[b] for s in scores) >= 2 for b in ids if b != a)
        assert got[a] == wins
