"""IDC (Kim et al., ICML 2022, "Dataset Condensation via Efficient Synthetic-Data Parameterization").

Synthetic images are stored in pixel space and each holds ``factor x factor`` smaller images
(multi-formation, :mod:`condensed.formation`); IDC-I is factor 1. They are learned by gradient matching
(an L1 or squared distance over the conv-weight gradients) of real and decoded synthetic images of one
class, augmented together by one draw of IDC's augmentation. Each outer iteration starts a fresh
network; after every inner step the network is trained a little on *real* data (augmented, CutMix).
The proxy holds the decoded images, normalized, so anything downstream simply trains on them.

Defaults follow snu-mllab/Efficient-Dataset-Condensation: ``argument.py`` (flags named in the comments)
with ``misc/reproduce.py`` (the settings of its published sets); ``None`` means the reference's
per-dataset choice (:data:`RECIPES`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from condensed.base import Context, Settings
from condensed.formation import decode, decode_by_class, encode
from condensed.matching import check_metric, match_gradients
from condensed.registry import register_method
from condensed.sampling import RealSampler, class_labels
from condensed.synthetic import DEFAULT_NET, DEFAULT_SPACE, SyntheticMethod, Workspace, network_builder
from proxynas.augment.cutmix import CutMixDraw, cutmix, draw_cutmix, mixed_loss
from proxynas.augment.idc import IDCAugment
from proxynas.datasets.base import TensorSet
from proxynas.errors import ProxynasError
from search_spaces import resolve_candidate

INITS = ("mix", "real", "noise")  # --init mix; real is the reference's 'random' (whole real images); noise
MIXUPS = ("cut", "vanilla")


@dataclass(frozen=True)
class Recipe:
    """What ``misc/reproduce.py`` and ``argument.py`` choose per dataset."""

    metric: str
    lr_img: float  # before tuning by ipc and image size (``tune_lr_img``)
    n_data: int
    base_size: int = 32  # ``tune_lr_img``'s reference side: 28 for MNIST, 32 otherwise (FashionMNIST too)
    multi_augment: str = "color_crop_cutout"  # matching augmentation when factor > 1
    multi_mixup: str = "cut"  # network-update mixup when factor > 1


RECIPES = {
    "cifar10": Recipe("mse", 5e-3, 2000),
    "cifar100": Recipe("mse", 5e-3, 2000),
    "svhn": Recipe("mse", 5e-3, 500),
    "mnist": Recipe("l1", 1e-4, 500, base_size=28, multi_augment="color_crop", multi_mixup="vanilla"),
    "fashion_mnist": Recipe("l1", 1e-4, 500),
    # not in the reference: digits are treated like MNIST (tune_lr_img's base side is 32 for them)
    "digits": Recipe("l1", 1e-4, 500, multi_augment="color_crop", multi_mixup="vanilla"),
}


@dataclass(frozen=True)
class IDCSettings(Settings):
    iterations: int = 2000  # outer iterations, a fresh network each (reproduce.py niter 2000, inner 100)
    inner_loop: int = 100  # --inner_loop: image updates (each followed by a network update) per network
    factor: int = 2  # --factor: multi-formation factor (IDC 2, IDC-I 1)
    metric: str | None = None  # --metric: l1 for (Fashion-)MNIST, mse for CIFAR/SVHN
    lr_img: float | None = None  # --lr_img, then x ipc/10 x (side/base)^2 (tune_lr_img)
    momentum_img: float = 0.5  # --mom_img (SGD on the images)
    batch_real: int = 64  # --batch_real: real images per class per matching step, and per network batch
    batch_syn_max: int = 128  # --batch_syn_max: decoded synthetic images per class per step, at most
    init: str | None = None  # --init: mix when factor > 1, else real
    augment: str | None = None  # --aug_type: color_crop_cutout (color_crop for MNIST at factor > 1)
    n_data: int | None = None  # --n_data: real images per network update: 500, 2000 for CIFAR
    net_epochs: int = 1  # --net_epoch
    net_mixup: str | None = None  # --mixup_net: cut (CutMix), vanilla for MNIST at factor > 1
    mix_p: float = 0.5  # --mix_p (0.5 for every dataset proxynas reads)
    lr_net: float = 0.01  # --lr
    momentum_net: float = 0.9  # --momentum
    weight_decay_net: float = 5e-4  # --weight-decay
    match_bias: bool = False  # --bias
    match_fc: bool = False  # --fc
    net: str = DEFAULT_NET  # --net_type convnet --depth 3 --norm_type instance (space:id)

    def __post_init__(self) -> None:
        for name in ("iterations", "inner_loop", "factor", "batch_real", "batch_syn_max", "net_epochs"):
            if getattr(self, name) < 1:
                raise ProxynasError(f"setting {name} must be at least 1, got {getattr(self, name)}",
                                    f"--set {name}=1 or more")
        if self.metric is not None:
            check_metric(self.metric)
        if self.init is not None and self.init not in INITS:
            raise ProxynasError(f"unknown IDC init '{self.init}'", f"choose one of {', '.join(INITS)}")
        if self.net_mixup is not None and self.net_mixup not in MIXUPS:
            raise ProxynasError(f"unknown net_mixup '{self.net_mixup}'", f"choose one of {', '.join(MIXUPS)}")
        if self.augment is not None:
            try:
                IDCAugment(self.augment)
            except ValueError as err:
                raise ProxynasError(f"IDC augment '{self.augment}': {err}",
                                    "e.g. --set augment=color_crop_cutout") from None
        resolve_candidate(self.net, DEFAULT_SPACE)


@dataclass(frozen=True)
class IDCISettings(IDCSettings):
    factor: int = 1


@dataclass(frozen=True)
class Resolved:
    """Settings with the per-dataset choices filled in."""

    metric: str
    lr_img: float
    n_data: int
    init: str
    augment: str
    net_mixup: str


def resolve(settings: IDCSettings, dataset: str, ipc: int, side: int) -> Resolved:
    recipe = RECIPES.get(dataset, RECIPES["cifar10"] if side >= 32 else RECIPES["fashion_mnist"])
    multi = settings.factor > 1
    return Resolved(
        metric=settings.metric or recipe.metric,
        lr_img=(recipe.lr_img if settings.lr_img is None else settings.lr_img) * ipc / 10
        * (side / recipe.base_size) ** 2,
        n_data=recipe.n_data if settings.n_data is None else settings.n_data,
        init=settings.init or ("mix" if multi else "real"),
        augment=settings.augment or (recipe.multi_augment if multi else "color_crop_cutout"),
        net_mixup=settings.net_mixup or (recipe.multi_mixup if multi else "cut"))


class Pixels:
    """Normalized images <-> pixel space [0, 1], where IDC keeps its images."""

    def __init__(self, mean: tuple[float, ...], std: tuple[float, ...], device: torch.device) -> None:
        self.mean = torch.tensor(mean, device=device).view(1, -1, 1, 1)
        self.std = torch.tensor(std, device=device).view(1, -1, 1, 1)

    def from_normalized(self, x: Tensor) -> Tensor:
        return x * self.std + self.mean

    def normalize(self, x: Tensor) -> Tensor:
        return (x - self.mean) / self.std


def initial_images(real: RealSampler, ipc: int, factor: int, init: str, pixels: Pixels,
                   generator: torch.Generator) -> Tensor:
    """``ipc`` stored images per class (pixel space), sorted by class."""
    n = ipc * factor * factor if init == "mix" else ipc
    real.require(n)
    if init == "noise":  # the reference: randn / 4 + 0.5, clamped
        shape = (real.num_classes * ipc, *real.images.shape[1:])
        return (torch.randn(shape, generator=generator, device=real.device) / 4 + 0.5).clamp(0, 1)
    images = pixels.from_normalized(real.sample(n, generator)[0]).clamp(0, 1)
    if init == "real":
        return images
    return torch.cat([encode(block, factor) for block in images.split(n)])


@dataclass
class IDCWorkspace(Workspace):
    """The shared workspace (``images`` in pixel space, stored form) and what IDC adds."""

    train: TensorSet
    factor: int
    resolved: Resolved
    pixels: Pixels
    match_augment: IDCAugment
    net_augment: IDCAugment


def matched_parameters(net: nn.Module, settings: IDCSettings) -> list[Tensor]:
    """Conv weights; biases and norm parameters (1-D) only with ``match_bias``, the classifier (2-D) only
    with ``match_fc`` (condense.py ``matchloss``)."""
    return [p for p in net.parameters()
            if p.ndim > 2 or (p.ndim == 1 and settings.match_bias) or (p.ndim == 2 and settings.match_fc)]


def train_network(net: nn.Module, optimizer: torch.optim.Optimizer, work: IDCWorkspace,
                  settings: IDCSettings) -> None:
    """IDC's network update: ``n_data`` real images in batches, augmented per image, CutMix."""
    train, r = work.train, work.resolved
    for _ in range(settings.net_epochs):
        seen = 0
        while seen < r.n_data:
            index = torch.randperm(len(train), generator=work.generator, device=train.device)
            index = index[:settings.batch_real]
            with torch.no_grad():
                x = work.net_augment.per_image(train.images[index], work.generator)
            mix = None
            if r.net_mixup == "cut":
                mix = draw_cutmix(len(index), x.shape[-2:], settings.mix_p, work.generator, x.device)
            network_step(net, optimizer, x, train.labels[index], mix)
            seen += len(index)


def network_step(net: nn.Module, optimizer: torch.optim.Optimizer, x: Tensor, y: Tensor,
                 mix: CutMixDraw | None) -> Tensor:
    """One SGD step on an (augmented) batch, with CutMix when ``mix`` is given; the loss."""
    if mix is not None:
        x, pasted, keep = cutmix(x, y, mix)
        loss = mixed_loss(net(x), y, pasted, keep)[0]
    else:
        loss = F.cross_entropy(net(x), y)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.detach()


@register_method
class IDC(SyntheticMethod):
    name = "idc"
    protocol = "idc"
    quick: ClassVar[dict[str, Any]] = {"iterations": 3, "inner_loop": 1, "batch_real": 8, "n_data": 16,
                                       "net": "d1_w32_relu_instancenorm_avgpool"}
    settings_type = IDCSettings

    def card_settings(self, settings: Settings, ipc: int, ctx: Context, shape: tuple[int, ...]) -> dict[str, Any]:
        """The settings as asked, and under ``resolved`` the per-dataset choices (metric, lr_img, n_data,
        init, ...) the ``None`` ones became: what ran."""
        assert isinstance(settings, IDCSettings)
        resolved = resolve(settings, ctx.dataset.name, ipc, shape[1])
        return super().card_settings(settings, ipc, ctx, shape) | {"resolved": asdict(resolved)}

    def workspace(self, train: TensorSet, ipc: int, settings: Any, ctx: Context) -> IDCWorkspace:
        info = ctx.dataset
        r = resolve(settings, info.name, ipc, train.shape[1])
        generator = torch.Generator(device=ctx.device).manual_seed(ctx.seed)
        pixels = Pixels(info.mean, info.std, ctx.device)
        real = RealSampler(train)
        images = initial_images(real, ipc, settings.factor, r.init, pixels, generator).requires_grad_(True)
        optimizer = torch.optim.SGD([images], lr=r.lr_img, momentum=settings.momentum_img)
        space, build = network_builder(settings.net, train)
        # with CutMix the network update leaves cutout out (condense.py, diffaug: remove_aug)
        net_strategy = "_".join(f for f in r.augment.split("_") if r.net_mixup != "cut" or f != "cutout")
        return IDCWorkspace(images, class_labels(train.num_classes, ipc, ctx.device), optimizer, real,
                            generator, None, ipc, ctx.seed, build, space, train, settings.factor, r, pixels,
                            IDCAugment(r.augment), IDCAugment(net_strategy))

    def iteration(self, work: Workspace, iteration: int, settings: Any) -> Tensor:
        """One outer iteration: a fresh network, ``inner_loop`` rounds of per-class matching + net update."""
        assert isinstance(work, IDCWorkspace)
        net = work.fresh_net(iteration).train()
        net_optimizer = torch.optim.SGD(net.parameters(), lr=settings.lr_net, momentum=settings.momentum_net,
                                        weight_decay=settings.weight_decay_net)
        params = matched_parameters(net, settings)
        with torch.no_grad():
            work.images.clamp_(0, 1)
        sizes = work.real.batch_sizes(settings.batch_real)
        total = torch.zeros((), device=work.images.device)
        for _ in range(settings.inner_loop):
            real_x, real_y = work.real.sample(settings.batch_real, work.generator)
            for c, (x, y) in enumerate(zip(real_x.split(sizes), real_y.split(sizes), strict=True)):
                loss = self.class_loss(net, params, work, c, x, y, settings)
                work.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                work.optimizer.step()
                total += loss.detach()
            if work.resolved.n_data > 0:
                train_network(net, net_optimizer, work, settings)
        return total / (work.num_classes * settings.inner_loop)

    def class_loss(self, net: nn.Module, params: list[Tensor], work: IDCWorkspace, c: int, real_x: Tensor,
                   real_y: Tensor, settings: IDCSettings) -> Tensor:
        """Gradient matching of class ``c``: real and decoded synthetic images under one augmentation draw."""
        syn = decode(work.images[c * work.ipc:(c + 1) * work.ipc], work.factor)
        if len(syn) > settings.batch_syn_max:
            keep = torch.randperm(len(syn), generator=work.generator, device=syn.device)
            syn = syn[keep[:settings.batch_syn_max]]
        both = work.match_augment.shared(torch.cat([real_x, work.pixels.normalize(syn)]), work.generator)
        syn_y = torch.full((len(syn),), c, device=syn.device, dtype=torch.long)
        n = len(real_x)
        return match_gradients(net, both[:n], real_y, both[n:], syn_y, work.resolved.metric, params)

    def condense(self, train: TensorSet, ipc: int, settings: Settings, ctx: Context) -> TensorSet:
        """The decoded training images (``ipc * factor**2`` per class), normalized, sorted by class."""
        return self.decoded(self.learn(train, ipc, settings, ctx).data, settings, ctx)

    def decoded(self, stored: TensorSet, settings: Any, ctx: Context) -> TensorSet:
        pixels = Pixels(ctx.dataset.mean, ctx.dataset.std, stored.device)
        images, labels = decode_by_class(stored.images.clamp(0, 1), stored.labels, settings.factor)
        return TensorSet(pixels.normalize(images), labels, stored.num_classes)


@register_method
class IDCI(IDC):
    name = "idc-i"
    settings_type = IDCISettings
