"""Presets: the condensation papers' evaluation protocols, by name (what ``--protocol NAME`` chooses).

A preset is a name and its source; ``protocol_for("dsa", "fashion_mnist")`` is the
:class:`~proxynas.engine.Protocol` (the training settings) the DSA paper's code trains with on
FashionMNIST. A preset may depend on the dataset (DC uses an augmentation on MNIST
only) and on the proxy (IDC's exceptions for some published sets), so each name is a small function of
both, registered with its source. ``exact=True`` gives the DC reference's own loop for the presets
that use it (:mod:`proxynas.engine.protocol`, ``evaluate_synset``); IDC's schedule already is its own.

Values were read in the reference code (pinned commits; tests/golden/ holds numbers produced by it):
VICO-UoE/DatasetCondensation @ 53f63a6 and snu-mllab/Efficient-Dataset-Condensation @ ceac95a.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from proxynas.engine.protocol import Protocol
from proxynas.registry import Registry

Builder = Callable[[str, dict[str, Any]], Protocol]  # (dataset name, proxy facts) -> protocol


@dataclass(frozen=True)
class Preset:
    """A paper's protocol by name: ``build(dataset, facts)`` gives its :class:`Protocol`."""

    name: str
    source: str  # where the values come from, in the reference code
    build: Builder
    exact_applies: bool  # whether ``exact`` changes it (the DC reference's evaluate_synset loop)


# labelled as the user names it (--protocol NAME); built-ins: this module
PRESETS: Registry[Preset] = Registry("protocol", group="proxynas.presets")

# The DC reference's evaluate_synset: SGD lr_net 0.01, momentum 0.9, weight decay 5e-4, batch_train 256,
# lr x0.1 at half the epochs (Epoch // 2 + 1 in its own loop).
_DC_BASE = Protocol(epochs=300, batch_size=256, lr=0.01, momentum=0.9, weight_decay=5e-4, milestones=("1/2",),
                    gamma=0.1)


def register_preset(name: str, source: str, *, exact_applies: bool = True) -> Callable[[Builder], Builder]:
    """Register the decorated ``(dataset, facts) -> Protocol`` function as the preset ``name``."""

    def add(build: Builder) -> Builder:
        PRESETS.register(name)(Preset(name, source, build, exact_applies))
        return build

    return add


@register_preset("dc", "DatasetCondensation main.py: get_daparam, epoch_eval_train 300 (1000 with "
                         "augmentation); utils.py evaluate_synset")
def dc(dataset: str, facts: dict[str, Any]) -> Protocol:
    """300 epochs without augmentation; on MNIST the reference's crop_scale_rotate for 1000 epochs
    (``get_daparam``; its ``crop_noise`` for a BatchNorm evaluation net is left out)."""
    if dataset == "mnist":
        return _DC_BASE.with_(epochs=1000, augment="crop_scale_rotate")
    return _DC_BASE


@register_preset("dsa", "DatasetCondensation main.py --method DSA: epoch_eval_train 1000, DiffAugment with "
                          "the readme's dsa_strategy; utils.py evaluate_synset")
def dsa(dataset: str, facts: dict[str, Any]) -> Protocol:
    """DSA augmentation (color_crop_cutout_flip_scale_rotate, no flip for MNIST/SVHN/digits), 1000 epochs."""
    return _DC_BASE.with_(epochs=1000, augment="dsa")


@register_preset("dm", "DatasetCondensation main_DM.py: --epoch_eval_train 1000, DiffAugment with "
                         "--dsa_strategy; utils.py evaluate_synset")
def dm(dataset: str, facts: dict[str, Any]) -> Protocol:
    """The same as ``dsa``."""
    return dsa(dataset, facts)


@register_preset("idc", "Efficient-Dataset-Condensation argument.py (epochs 1000 for ipc > 0, batch_size 64, "
                          "lr 0.01, momentum 0.9, weight-decay 5e-4, mixup cut, beta 1.0, mix_p 0.5, dsa on, "
                          "dsa_strategy less cutout and flip); train.py train/train_epoch (MultiStepLR "
                          "[2E//3, 5E//6] x0.2); test.py return_data_path", exact_applies=False)
def idc(dataset: str, facts: dict[str, Any]) -> Protocol:
    """IDC's test.py: CutMix (p 0.5) and IDC's per-image augmentation without cutout; x0.2 at 2/3 and 5/6.

    The published sets it treats apart (``return_data_path``): MNIST with factor > 1 trains without
    CutMix (strategy color_crop_scale_rotate, as for any MNIST set); SVHN with factor 1 and ipc 1
    without CutMix, cutout kept (color_crop_cutout_scale_rotate).
    """
    base = Protocol(epochs=1000, batch_size=64, lr=0.01, momentum=0.9, weight_decay=5e-4,
                    milestones=("2/3", "5/6"), gamma=0.2, augment="idc", mixup="cutmix", mix_p=0.5)
    factor, ipc = int(facts.get("factor", 1)), facts.get("ipc")
    if dataset == "mnist" and factor > 1:
        return base.with_(mixup="none")
    if dataset == "svhn" and factor == 1 and ipc == 1:
        return base.with_(mixup="none", augment="idc_cutout")
    return base


@register_preset("mtt", "mtt-distillation distill.py: --epoch_eval_train 1000, DiffAugment (dsa True), "
                          "args.lr_net = syn_lr.item(); utils.py evaluate_synset (SGD momentum 0.9, weight decay "
                          "5e-4, batch_train 256, lr x0.1 at Epoch // 2 + 1)")
def mtt(dataset: str, facts: dict[str, Any]) -> Protocol:
    """DSA, 1000 epochs, at the step size the proxy learned (the card's ``learned.syn_lr``; 0.01, the
    reference's lr_teacher, for a set without one). ZCA'd proxies are evaluated on ZCA'd images: the card
    says so and the data is whitened where the proxy is read (``proxynas.cli.resolve``)."""
    lr = facts.get("syn_lr") or _DC_BASE.lr
    return _DC_BASE.with_(epochs=1000, augment="dsa", lr=float(lr))


@register_preset("ftd", "FTD-distillation distill_FTD.py: as mtt-distillation (evaluate_synset with "
                          "lr_net = syn_lr.item(), 1000 epochs, DSA), on the EMA images")
def ftd(dataset: str, facts: dict[str, Any]) -> Protocol:
    """The same as ``mtt``."""
    return mtt(dataset, facts)


def protocol_for(name: str, dataset: str, facts: dict[str, Any] | None = None, *, exact: bool = False) -> Protocol:
    """The protocol of the preset ``name`` for ``dataset`` (``facts``: what the proxy card says, e.g. ipc
    and factor)."""
    named = PRESETS.get(name)
    protocol = named.build(dataset, dict(facts or {})).with_(name=name)
    if exact and named.exact_applies:
        protocol = protocol.with_(schedule="evaluate_synset")
    return protocol


def method_preset(method: str) -> str | None:
    """The preset a proxy made (or published) with ``method`` is evaluated with, as the method declares
    it (``Method.protocol``: what its paper evaluates with); None for a method no registry knows."""
    from condensed.registry import METHODS  # the layer above; imported when asked

    return METHODS.get(method).protocol if method in METHODS else None


def list_presets() -> list[str]:
    return PRESETS.names()
