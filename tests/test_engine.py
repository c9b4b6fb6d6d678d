"""The foundation engine: a real network learns digits, failures are reported, protocols are identified."""

from __future__ import annotations

import pytest
import torch

from proxynas.engine import Job, ListStack, Protocol, resolve_device, run_jobs, seeded
from proxynas.errors import ProxynasError
from search_spaces import get_space

SPACE = get_space("dc_convnet")


def test_default_convnet_learns_digits(digits):
    """12 epochs of batch 64 (250 steps): 92-97% over seeds 0-2; chance is 10%."""
    jobs = [Job(SPACE.default(), 0)]
    protocol = Protocol(epochs=12, batch_size=64)
    (outcome,) = run_jobs(jobs, SPACE, digits.train, digits.val, digits.test, protocol)
    assert outcome.status == "done" and outcome.epochs == 12 and outcome.seconds > 0
    assert outcome.val_acc > 0.8 and outcome.test_acc > 0.8, outcome
    assert outcome.train_loss < 2.0  # log(10) = 2.30 at chance


def test_a_huge_learning_rate_is_a_failed_job_with_its_reason(digits):
    jobs = [Job(SPACE.default(), 0)]
    (outcome,) = run_jobs(jobs, SPACE, digits.train, digits.val, digits.test, Protocol(epochs=2, lr=1e5))
    assert outcome.status == "failed"
    assert outcome.val_acc is None and outcome.test_acc is None and outcome.train_loss is None
    assert "non-finite" in outcome.reason and "epoch" in outcome.reason


def test_seeded_builds_are_reproducible_and_leave_the_global_rng_alone():
    state = torch.random.get_rng_state()
    a = seeded(lambda: SPACE.build(SPACE.default(), (1, 8, 8), 10), 7)
    b = seeded(lambda: SPACE.build(SPACE.default(), (1, 8, 8), 10), 7)
    c = seeded(lambda: SPACE.build(SPACE.default(), (1, 8, 8), 10), 8)
    assert torch.equal(torch.random.get_rng_state(), state)
    pa, pb, pc = (torch.cat([p.flatten() for p in m.parameters()]) for m in (a, b, c))
    assert torch.equal(pa, pb) and not torch.equal(pa, pc)
    assert ListStack([a, c])(torch.randn(2, 3, 1, 8, 8)).shape == (2, 3, 10)


def test_protocol_key_ignores_the_seed_and_follows_every_setting():
    base = Protocol()
    assert base.key() == Protocol().key() == base.with_(seed=5).key()
    assert len(base.key()) == 12
    changed = [base.with_(epochs=200), base.with_(lr=0.02), base.with_(batch_size=128),
               base.with_(augment="dsa"), base.with_(milestones=("3/4",)), base.with_(weight_decay=0.0),
               base.with_(gamma=0.2), base.with_(milestones=("2/3", "5/6")), base.with_(schedule="evaluate_synset"),
               base.with_(mixup="cutmix"), base.with_(mixup="cutmix", mix_p=1.0)]
    keys = {p.key() for p in changed}
    assert len(keys) == len(changed) and base.key() not in keys
    assert base.with_(name="dc").key() == base.key()  # the name is a label
    assert Protocol.from_dict({**base.settings(), "seed": 3, "unknown": 1}) == base.with_(seed=3)
    assert base.decay_epochs() == [150] and "seed" not in base.settings()
    for p in changed:
        assert Protocol.from_dict(p.describe()).key() == p.key()


@pytest.mark.parametrize(("bad", "match"), [({"epochs": 0}, "epochs"), ({"batch_size": 0}, "batch size"),
                                            ({"augment": "mixup"}, "augmentation")])
def test_bad_protocols_are_clear_errors(bad, match):
    with pytest.raises(ProxynasError, match=match):
        Protocol(**bad)


def test_resolve_device():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(None) == resolve_device("auto")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ProxynasError, match="unknown device 'tpu'"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ProxynasError, match="no CUDA GPU"):
            resolve_device("cuda")
