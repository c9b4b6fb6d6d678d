"""MTT: dataset distillation by matching training trajectories (Cazenavette et al., CVPR 2022).

Synthetic images (initialised from random real ones) and a learnable step size ``syn_lr`` (from
``lr_teacher``) learn so that a student trained on them for ``syn_steps`` steps from an expert's epoch
``start`` parameters lands near the expert's epoch ``start + expert_epochs`` parameters
(:mod:`condensed.trajectory`). Every iteration picks an expert and ``start`` in ``[0, max_start_epoch)``
at random (the reference's ``--load_all`` order). Images: SGD ``lr_img``, momentum 0.5; ``syn_lr``: SGD
``lr_lr``, momentum 0.5. With ZCA the images live in whitened space (:mod:`proxynas.datasets.zca`) and the
experts must have been trained on it too (``proxynas experts --zca``).

Settings left at 0 (or ``zca="auto"``) take the reference's values for the dataset and ipc
(``MTT_TABLE``), else the reference's argparse defaults; the card records what they became
(``resolved``) and the learned ``syn_lr`` (``learned``), which the ``mtt`` evaluation protocol trains with.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, fields, replace
from typing import Any, ClassVar

import torch
from torch import Tensor

from condensed.base import Context, Settings
from condensed.experts import ExpertSet, ExpertSettings, open_set, train_experts
from condensed.registry import register_method
from condensed.synthetic import SyntheticMethod, SyntheticSettings, Workspace
from condensed.trajectory import Resolved, reference_batches, trajectory_step
from proxynas import paths
from proxynas.datasets.base import TensorSet
from proxynas.datasets.zca import REFERENCE_EPS, whiten, zca_for
from proxynas.errors import ProxynasError

log = logging.getLogger(__name__)
ZCA_CHOICES = ("auto", "yes", "no")
# distill.py's argparse defaults: syn_steps, expert_epochs, max_start_epoch, lr_img, lr_lr, lr_teacher, zca
ARGPARSE = (20, 3, 25, 1000.0, 1e-05, 0.01, False)
# MTT's table of hyper-parameters (paper appendix; its README shows it as an image), ConvNet, by (dataset, ipc):
# recalled from the paper, not read in this session: check before citing.
MTT_TABLE: dict[tuple[str, int], tuple[int, int, int, float, float, float, bool]] = {
    ("cifar10", 1): (50, 2, 2, 1000.0, 1e-07, 0.01, True),
    ("cifar10", 10): (30, 2, 20, 1000.0, 1e-05, 0.01, True),
    ("cifar10", 50): (30, 2, 40, 100.0, 1e-05, 0.01, False),
    ("cifar100", 1): (20, 3, 20, 1000.0, 1e-05, 0.01, True),
    ("cifar100", 10): (20, 2, 20, 1000.0, 1e-05, 0.01, False),
    ("cifar100", 50): (80, 2, 40, 1000.0, 1e-05, 0.01, True),
}
TABLE_KEYS = ("syn_steps", "expert_epochs", "max_start_epoch", "lr_img", "lr_lr", "lr_teacher")


# Expert SGD steps per student step in FTD's Table 7 CIFAR rows (2-3 epochs x 196 batches of 256 over syn_steps
# 20-80: 4.9 to 19.6; Tiny ImageNet's are larger). Far below, lr_img (chosen in that regime) makes image steps
# larger than the images (docs/trajectory.md, "At a small scale").
MIN_STEP_RATIO = 4.0


def scale_warning(train_images: int, expert_batch: int, r: Resolved) -> str | None:
    """A warning when the experts take far fewer SGD steps per student step than in the references' settings."""
    expert_steps = -(-train_images // expert_batch) * r.expert_epochs
    ratio = expert_steps / r.syn_steps
    if ratio >= MIN_STEP_RATIO:
        return None
    return (f"experts take {expert_steps} SGD steps over expert_epochs {r.expert_epochs}, {ratio:.2g} per student step "
            f"(syn_steps {r.syn_steps}); FTD's Table 7 CIFAR rows have 4.9 to 19.6, and lr_img {r.lr_img:g} chosen "
            "there may move the images by more than their size here: raise expert_epochs, lower syn_steps or "
            "lr_img (docs/trajectory.md)")


@dataclass(frozen=True)
class MTTSettings(SyntheticSettings):
    iterations: int = 5000  # --Iteration
    lr_img: float = 0.0  # 0: by table
    lr_lr: float = 0.0
    lr_teacher: float = 0.0  # the first syn_lr
    syn_steps: int = 0
    expert_epochs: int = 0
    max_start_epoch: int = 0
    batch_syn: int = 0  # 0: all synthetic images in every step (--batch_syn None)
    zca: str = "auto"
    init: str = "real"  # --pix_init real
    augment: str = "dsa"  # --dsa True
    experts: int = 0  # use the first N trained experts (by seed); 0: all
    train_experts: int = 0  # > 0: first train (or finish) experts of seeds 0..N-1, as `proxynas experts` does
    expert_train_epochs: int = 50  # their epochs (the references': 50)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.zca not in ZCA_CHOICES:
            raise ProxynasError(f"unknown zca '{self.zca}'", f"choose one of {', '.join(ZCA_CHOICES)}")
        for name in (*TABLE_KEYS, "batch_syn", "experts", "train_experts"):
            if getattr(self, name) < 0:
                raise ProxynasError(f"setting {name} must not be negative", f"--set {name}=0 takes the reference's")


@dataclass
class TrajectoryWork(Workspace):
    """The workspace plus what trajectory matching learns and reads."""

    syn_lr: Tensor | None = None
    lr_optimizer: torch.optim.Optimizer | None = None
    ema: Tensor | None = None
    experts: ExpertSet | None = None
    seeds: tuple[int, ...] = ()
    resolved: Resolved | None = None

    def state(self) -> dict[str, Any]:
        out = super().state() | {"syn_lr": self.syn_lr.detach().cpu(), "lr_optimizer": self.lr_optimizer.state_dict()}
        if self.ema is not None:
            out["ema"] = self.ema.cpu()
        return out

    def restore(self, state: dict[str, Any]) -> None:
        super().restore(state)
        with torch.no_grad():
            self.syn_lr.copy_(state["syn_lr"])
            if self.ema is not None:
                self.ema.copy_(state["ema"])
        self.lr_optimizer.load_state_dict(state["lr_optimizer"])


@register_method
class MTT(SyntheticMethod):
    name = "mtt"
    protocol = "mtt"
    # tiny experts trained first (seed 0, 2 epochs), 3 steps of 3 unrolled student steps, no whitening
    quick: ClassVar[dict[str, Any]] = {"net": "dc_convnet:d1_w32_relu_instancenorm_avgpool", "iterations": 3,
                                       "syn_steps": 3, "expert_epochs": 1, "max_start_epoch": 1, "lr_img": 10.0,
                                       "zca": "no", "train_experts": 1, "expert_train_epochs": 2}
    settings_type = MTTSettings
    expert_optimizer = "sgd"
    table: dict[tuple[str, int], tuple[int, int, int, float, float, float, bool]] = MTT_TABLE

    def resolve(self, settings: MTTSettings, dataset: str, ipc: int) -> Resolved:
        row = self.table.get((dataset, ipc), ARGPARSE)
        values = {k: (getattr(settings, k) or row[i]) for i, k in enumerate(TABLE_KEYS)}
        zca = row[6] if settings.zca == "auto" else settings.zca == "yes"
        return Resolved(**values, zca=zca, batch_syn=settings.batch_syn, ema_decay=self.ema_decay(settings))

    def ema_decay(self, settings: Settings) -> float:
        return 0.0

    def expert_settings(self, settings: MTTSettings, resolved: Resolved) -> ExpertSettings:
        return ExpertSettings(net=settings.net, zca=resolved.zca, zca_eps=REFERENCE_EPS,
                              optimizer=self.expert_optimizer)

    def workspace(self, train: TensorSet, ipc: int, settings: Any, ctx: Context) -> Workspace:
        r = self.resolve(settings, ctx.dataset.name, ipc)
        home = paths.home()
        expert_settings = self.expert_settings(settings, r)
        experts = open_set(home, ctx.dataset.name, train, expert_settings, create=settings.train_experts > 0)
        needed = r.max_start_epoch - 1 + r.expert_epochs
        warning = scale_warning(len(train), expert_settings.batch, r)
        if warning:
            log.warning("%s", warning)
        whitened = train
        if r.zca:
            whitened = whiten(train, ctx.dataset, zca_for(train, ctx.dataset, REFERENCE_EPS, home / "zca"))
        if settings.train_experts:  # experts first, in the same run (a study's proxy step)
            log.info("training %d %s experts for %s first", settings.train_experts, self.expert_optimizer, self.name)
            train_experts(experts, whitened, ctx.dataset, expert_settings, list(range(settings.train_experts)),
                          max(settings.expert_train_epochs, needed), device=ctx.device)
        seeds = experts.seeds(needed)
        if settings.experts:
            seeds = seeds[:settings.experts]
        if not seeds:
            raise ProxynasError(f"no expert in {experts.root} has {needed} epochs (max_start_epoch "
                                f"{r.max_start_epoch} - 1 + expert_epochs {r.expert_epochs})",
                                f"train experts longer: proxynas experts --dataset {ctx.dataset.name} "
                                f"--epochs {needed}")
        base = super().workspace(whitened, ipc, replace(settings, lr_img=r.lr_img), ctx)
        syn_lr = torch.tensor(r.lr_teacher, device=ctx.device).requires_grad_(True)
        lr_optimizer = torch.optim.SGD([syn_lr], lr=r.lr_lr, momentum=0.5)
        ema = base.images.detach().clone() if r.ema_decay else None
        values = {f.name: getattr(base, f.name) for f in fields(Workspace)}
        return TrajectoryWork(**values, syn_lr=syn_lr, lr_optimizer=lr_optimizer, ema=ema, experts=experts,
                              seeds=tuple(seeds), resolved=r)

    def iteration(self, work: Workspace, iteration: int, settings: Any) -> Tensor:
        assert isinstance(work, TrajectoryWork) and work.resolved is not None and work.experts is not None
        r, device, g = work.resolved, work.images.device, work.generator
        pick = int(torch.randint(0, len(work.seeds), (1,), generator=g, device=device))
        start = int(torch.randint(0, r.max_start_epoch, (1,), generator=g, device=device))
        seed = work.seeds[pick]
        start_params = work.experts.flat(seed, start, device)
        target_params = work.experts.flat(seed, start + r.expert_epochs, device)
        net = work.fresh_net(iteration)
        net.train()
        n = len(work.images)
        batches = reference_batches(n, r.batch_syn or n, r.syn_steps, work.augment, tuple(work.images.shape[-2:]),
                                    g, device)
        return trajectory_step(net, start_params, target_params, work.images, work.labels, work.syn_lr, r.syn_steps,
                               batches, work.augment, work.optimizer, work.lr_optimizer, work.ema, r.ema_decay)

    def result(self, work: Workspace) -> Tensor:
        ema = getattr(work, "ema", None)
        return (ema if ema is not None else work.images).detach().clone()

    def card_settings(self, settings: Settings, ipc: int, ctx: Context, shape: tuple[int, ...]) -> dict[str, Any]:
        out = super().card_settings(settings, ipc, ctx, shape)
        resolved = self.resolve(settings, ctx.dataset.name, ipc)
        out["resolved"] = resolved.as_dict() | {"zca_eps": REFERENCE_EPS}
        state = None
        if ctx.checkpoint is not None and ctx.checkpoint.exists():
            state = torch.load(ctx.checkpoint, map_location="cpu", weights_only=True)
        if state is not None and "syn_lr" in state:
            out["learned"] = {"syn_lr": float(state["syn_lr"])}
        return out
