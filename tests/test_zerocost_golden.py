"""Each zero-cost measure against the numbers its references give on the same networks, weights and batch.

``tests/golden/zerocost.json`` holds what zero-cost-nas (``foresight/pruners/measures``) and NASLib
(``naslib/predictors/utils/pruners/measures``) compute, run outside this repository (tests/golden/README.md),
on a small NB201 network (channels 4, one cell per stage) and a dc_convnet, both drawn from seed 1, with a
seeded minibatch of 16 digits training images; float64 except zen (NASLib draws float32 inputs for it).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import torch

from proxynas.engine.stack import seeded
from proxynas.zerocost import MEASURES, Probe
from proxynas.zerocost.measure import without_batch_norm
from proxynas.zerocost.probe import make_probe
from search_spaces import get_space
from search_spaces.nb201_net import EDGES, NB201Network, edge_name

GOLDEN = json.loads((Path(__file__).parent / "golden" / "zerocost.json").read_text())
SHAPE, CLASSES = tuple(GOLDEN["shape"]), GOLDEN["classes"]
# Relative tolerances from the rounding each comparison carries, measured (AVX-512 and AVX2 alike): float64
# measures differ by <= 7e-15 (grasp's double backward sums in another order), so 1e-9; the references keep
# fisher's per-channel values in float32 tensors (p_utils.reshape_elements): 6e-8, so 1e-6; zen is float32
# on both sides, its log of a sum over 16 images in another order: <= 2.4e-7, so 1e-5.
RTOL = {"fisher": 1e-6, "zen": 1e-5}


def network(name: str) -> torch.nn.Module:
    if name == "nb201":
        c = get_space("nb201").parse(GOLDEN["nb201"])
        ops = {(i, j): str(c[edge_name(i, j)]) for i, j in EDGES}
        return seeded(lambda: NB201Network(ops, SHAPE, CLASSES, channels=4, cells=1), GOLDEN["weight_seed"])
    space = get_space("dc_convnet")
    return seeded(lambda: space.build(space.parse(GOLDEN["dc_convnet"]), SHAPE, CLASSES), GOLDEN["weight_seed"])


@pytest.fixture(scope="module")
def probe() -> Probe:
    batch = GOLDEN["batch"]
    probe, fingerprint = make_probe(batch["dataset"], data=True, batch_size=batch["size"], seed=batch["seed"])
    assert fingerprint == batch["fingerprint"]
    return probe


CASES = [(net, m) for net in ("nb201", "dc_convnet") for m in GOLDEN["scores"][net] if m != "weights_sha256"]


@pytest.mark.parametrize(("net", "name"), CASES)
def test_measure_matches_its_references(net, name, probe):
    model = network(net)
    digest = hashlib.sha256(b"".join(t.detach().numpy().tobytes() for t in model.state_dict().values()))
    assert digest.hexdigest()[:16] == GOLDEN["scores"][net]["weights_sha256"]
    measure = MEASURES.get(name)
    if name == "zen":
        used = Probe(probe.images, probe.labels, SHAPE, CLASSES, len(probe.images), GOLDEN["zen_seed"])
    else:
        model = model.double()
        used = Probe(probe.images.double(), probe.labels, SHAPE, CLASSES, len(probe.images), 0)
    if not measure.batch_norm:
        model = without_batch_norm(model)
    ours = measure.fn(model.train(), used)
    references = GOLDEN["scores"][net][name]
    for reference, value in references.items():
        assert ours == pytest.approx(value, rel=RTOL.get(name, 1e-9)), reference
