r"""Semi-supervised GAN with feature matching (Salimans et al. 2016, "Improved Techniques").

D is a K+1-class classifier: K real classes and "fake". Its K outputs :math:`l_1..l_K` are
logits of the real classes and the fake logit is fixed at 0 (the softmax is over-parametrised,
so this loses nothing). With :math:`Z(x) = \sum_k e^{l_k(x)}`,
:math:`p(\text{real} \mid x) = Z / (Z + 1)` and

.. math::
    L_D = \underbrace{E_{x,y \sim \text{labelled}}[-\log p(y \mid x, y \le K)]}_{
           \text{cross-entropy on the K classes}}
          \; - \; w \Big( E_{x \sim \text{data}} \log \frac{Z(x)}{Z(x) + 1}
          + E_z \log \frac{1}{Z(G(z)) + 1} \Big)

In terms of :math:`s = \log Z` the unsupervised part is
:math:`E_{data}[\mathrm{softplus}(s) - s] + E_z[\mathrm{softplus}(s)]`.

G is trained by *feature matching*, not by fooling D: with :math:`f` D's last hidden layer
(its ReLU output, before that layer's noise; :math:`d` its width),

.. math:: L_G = \frac{1}{d} \lVert E_{x \sim data} f(x) - E_z f(G(z)) \rVert_2^2

which the paper found gives a much better classifier than the usual G loss (and worse
samples). The classifier is D's K logits: ``classify(x)``.

Networks follow the paper's MNIST model and its released code: D is an MLP
1000-500-250-250-250 with ReLU and Gaussian noise (std 0.3 on [0, 1] pixels, i.e. 0.6 on our
[-1, 1] images, and 0.5 after each hidden layer); every layer is weight-normalised,
:math:`y = g \odot V h / \lVert V_i \rVert + b`, with the data-dependent initialisation of
Salimans & Kingma (2016) on the first batch, and the hidden layers' scales :math:`g` stay
fixed after it (only the output layer's are trained). The unsupervised terms weigh 1/2
(``unsup_weight``) as in that code. G is an MLP 500-500 (softplus, batch norm) to C x R x R
with tanh (our images are in [-1, 1]). ``width`` scales every hidden layer.

Options beyond the paper (off by default; the ``mnist-sgan`` preset turns them on, measured in
``benchmarks/families/RESULTS.md``): ``shift`` (random shifts of the reals D classifies),
``consistency`` (a Pi-model penalty: D's class softmax on two random shifts of an unlabelled
real should agree), ``d_arch=conv`` (a small CNN D) and ``fm_std`` (G matches the batch std of
D's features as well as their mean: against the CNN D, mean-only matching let G collapse).

Train on ``data.dataset=semi:100:mnist`` (:mod:`gankit.data.semi`), which provides the
unlabelled stream and a labelled one.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from gankit.config import ModelConfig, opt
from gankit.errors import ConfigError, DataError
from gankit.models.base import GANModel, Phase, anneal_last
from gankit.nn.average import average_into
from gankit.registry import MODELS


class GaussianNoise(nn.Module):
    """Adds N(0, std^2) noise in training mode only (a regulariser of D)."""

    def __init__(self, std: float):
        super().__init__()
        self.std = std

    def forward(self, x):
        if self.training and self.std > 0:
            return x + self.std * torch.randn_like(x)
        return x


class WNLinear(nn.Module):
    r"""Weight-normalised linear layer :math:`y = g \odot (V x / \lVert V_i \rVert) + b`
    (Salimans & Kingma 2016).

    With ``train_scale=False`` the per-unit scale :math:`g` is a buffer, fixed after the
    data-dependent initialisation: every hidden unit's weight vector then keeps a fixed norm
    and D cannot grow its features without bound. This is what the authors' code does (its
    ``DenseLayer`` has ``train_scale=False``; only the output layer trains its scale).
    """

    def __init__(self, d_in: int, d_out: int, train_scale: bool):
        super().__init__()
        # N(0, 0.1) as in the authors' DenseLayer: Adam's steps are of a fixed size, so the
        # initial norm of v sets how fast the directions turn (0.05 turned them twice as fast)
        self.v = nn.Parameter(torch.randn(d_out, d_in) * 0.1)
        self.bias = nn.Parameter(torch.zeros(d_out))
        if train_scale:
            self.scale = nn.Parameter(torch.ones(d_out))
        else:
            self.register_buffer("scale", torch.ones(d_out))

    def direction(self) -> torch.Tensor:
        return self.v / self.v.norm(dim=1, keepdim=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.direction() * self.scale[:, None], self.bias)


class WNConv2d(nn.Module):
    """Weight-normalised convolution: each output channel's kernel has norm ``scale``
    (fixed after the data-dependent init unless ``train_scale``), as :class:`WNLinear`."""

    def __init__(self, d_in: int, d_out: int, k: int, stride: int, padding: int,
                 train_scale: bool):
        super().__init__()
        self.v = nn.Parameter(torch.randn(d_out, d_in, k, k) * 0.1)
        self.bias = nn.Parameter(torch.zeros(d_out))
        self.stride, self.padding = stride, padding
        if train_scale:
            self.scale = nn.Parameter(torch.ones(d_out))
        else:
            self.register_buffer("scale", torch.ones(d_out))

    def direction(self) -> torch.Tensor:
        return self.v / self.v.flatten(1).norm(dim=1).view(-1, 1, 1, 1)

    def preact(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.direction(), None, self.stride, self.padding)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.direction() * self.scale.view(-1, 1, 1, 1), self.bias,
                        self.stride, self.padding)


class SGANDiscriminator(nn.Module):
    """MLP with weight-normalised layers, Gaussian noise and (leaky) ReLU; K class logits.

    ``features(x)`` is the last hidden layer's activation *before* its noise, the layer the
    paper's feature matching uses (their code: ``layers[-3]``).
    """

    def __init__(self, in_dim: int, num_classes: int, hidden: list[int], input_noise: float,
                 hidden_noise: float, slope: float = 0.0, train_scale: bool = False):
        super().__init__()
        act = (lambda: nn.LeakyReLU(slope)) if slope > 0 else nn.ReLU  # noqa: E731
        layers: list[nn.Module] = [nn.Flatten(), GaussianNoise(input_noise)]
        d = in_dim
        for i, h in enumerate(hidden):
            if i:
                layers.append(GaussianNoise(hidden_noise))
            layers += [WNLinear(d, h, train_scale), act()]
            d = h
        self.body = nn.Sequential(*layers)
        self.last_noise = GaussianNoise(hidden_noise)
        self.head = WNLinear(d, num_classes, True)
        # 1 once the data-dependent initialisation ran (kept in checkpoints, so a resumed run
        # does not re-initialise trained weights)
        self.register_buffer("initialized", torch.zeros((), dtype=torch.uint8))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor, return_features: bool = False):
        f = self.features(x)
        logits = self.head(self.last_noise(f))
        return (logits, f) if return_features else logits

    @torch.no_grad()
    def data_init(self, x: torch.Tensor) -> None:
        """Salimans & Kingma (2016) data-dependent init of every weight-normalised layer.

        Layer by layer on the batch ``x`` (in training mode, noise included): with the
        direction v fixed, set the scale :math:`g = 1/\\sigma` and bias
        :math:`b = -\\mu/\\sigma` of the pre-activations :math:`v \\cdot h / \\lVert v \\rVert`,
        so every unit starts with zero mean and unit variance over the data.
        """
        h = x
        for m in self.body:
            if isinstance(m, (WNLinear, WNConv2d)):
                _init_layer(m, h)
            h = m(h)
        _init_layer(self.head, self.last_noise(h))
        self.initialized.fill_(1)


class SGANConvDiscriminator(SGANDiscriminator):
    """A small convolutional D (``model.d_arch=conv``): weight-normalised 3x3 convolutions of
    ``base``, ``2 base`` and ``4 base`` channels at full, half and quarter resolution, Gaussian
    noise between the stages, global average pooling; the pooled ``4 base`` channels are the
    features G matches. Shift-invariant where the MLP must learn each position, so it
    generalises from 100 labels with far fewer steps."""

    def __init__(self, channels: int, num_classes: int, base: int, input_noise: float,
                 hidden_noise: float, slope: float = 0.2, train_scale: bool = False,
                 resolution: int = 28):
        nn.Module.__init__(self)
        quarter = -(-(-(-resolution // 2)) // 2)  # the last stage's size
        last_pad = 0 if quarter >= 3 else 1
        act = (lambda: nn.LeakyReLU(slope)) if slope > 0 else nn.ReLU  # noqa: E731
        b = base
        conv = lambda i, o, s, p=1: WNConv2d(i, o, 3, s, p, train_scale)  # noqa: E731
        self.body = nn.Sequential(
            GaussianNoise(input_noise),
            conv(channels, b, 1), act(), conv(b, b, 2), act(),
            GaussianNoise(hidden_noise),
            conv(b, 2 * b, 1), act(), conv(2 * b, 2 * b, 2), act(),
            GaussianNoise(hidden_noise),
            conv(2 * b, 4 * b, 1, last_pad), act(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.last_noise = GaussianNoise(hidden_noise)
        self.head = WNLinear(4 * b, num_classes, True)
        self.register_buffer("initialized", torch.zeros((), dtype=torch.uint8))


def _init_layer(layer: WNLinear | WNConv2d, h: torch.Tensor) -> None:
    if isinstance(layer, WNConv2d):
        pre = layer.preact(h.float()).transpose(0, 1).flatten(1).t()
    else:
        pre = h.float() @ layer.direction().t()
    stats = torch.stack([pre.mean(0), pre.square().mean(0)])
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        # every process must start from the same weights: average the statistics
        torch.distributed.all_reduce(stats)
        stats /= torch.distributed.get_world_size()
    mean = stats[0]
    std = (stats[1] - mean.square()).clamp_min(0).add(1e-8).sqrt()
    layer.scale.copy_(1.0 / std)
    layer.bias.copy_(-mean / std)


class SGANGenerator(nn.Module):
    """MLP G: (Linear, BatchNorm, softplus) blocks, then a linear output layer and tanh.

    ``wn_out`` makes the output layer weight-normalised with a trained scale, as in the
    authors' code (their ``l2normalize`` dense layer): every output unit's weight vector then
    turns at a rate Adam sets, whatever its norm."""

    def __init__(self, z_dim: int, shape: tuple[int, int, int], hidden: list[int],
                 wn_out: bool = False):
        super().__init__()
        layers: list[nn.Module] = []
        d = z_dim
        for h in hidden:
            layers += [nn.Linear(d, h), nn.BatchNorm1d(h), nn.Softplus()]
            d = h
        c, r, _ = shape
        out = WNLinear(d, c * r * r, True) if wn_out else nn.Linear(d, c * r * r)
        layers += [out, nn.Tanh()]
        self.net = nn.Sequential(*layers)
        self.shape = shape

    def forward(self, z):
        return self.net(z).view(-1, *self.shape)


@MODELS.register("sgan")
class SGAN(GANModel):
    """Semi-supervised GAN (Salimans et al. 2016): K+1-class D, feature-matching G.

    See the module docstring for the maths; train on ``data.dataset=semi:100:mnist``.
    """

    @dataclass
    class Config(ModelConfig):
        name: str = opt("sgan", "registered model name")
        z_dim: int = opt(100, "latent size", min=1)
        width: float = opt(1.0, "multiplier of every hidden layer's size", min=0.01)
        # the paper's 0.3 is on pixels in [0, 1]; our images are in [-1, 1], twice the range
        input_noise: float = opt(0.6, "std of D's Gaussian input noise (images in [-1, 1]; "
                                      "the paper's 0.3 on [0, 1] pixels)", min=0.0)
        hidden_noise: float = opt(0.5, "std of the Gaussian noise after D's hidden layers",
                                  min=0.0)
        # the authors' code weighs the unsupervised terms by 1/2 (loss_unl = 0.5 * ...)
        unsup_weight: float = opt(0.5, "weight w of D's unsupervised (real vs fake) loss",
                                  min=0.0)
        leak: float = opt(0.0, "negative slope of D's activations (0 = ReLU as in the paper)",
                          min=0.0, max=1.0)
        data_init: bool = opt(True, "data-dependent initialisation of D's weight-normalised "
                                    "layers on the first batch (Salimans & Kingma 2016)")
        train_scale: bool = opt(False, "train the weight-norm scales g of D's hidden layers "
                                       "(the authors' code fixes them after the init)")
        d_ema: float = opt(0.999, "decay of an exponential moving average of D's weights, "
                                  "which classify() uses (0 = classify with D itself)",
                           min=0.0, max=0.99999)
        lr_decay: float = opt(0.0, "decay both learning rates linearly to 0 over this last "
                                   "fraction of the run (0 = constant)", min=0.0, max=1.0)
        d_arch: str = opt("mlp", "D's architecture: the paper's MLP, or a small CNN "
                                 "(d_channels, 2x and 4x that)", choices=("mlp", "conv"))
        d_channels: int = opt(32, "first-stage channels of the conv D", min=1)
        g_wn: bool = opt(False, "weight-normalise G's output layer (trained scale), as the "
                                "authors' code does")
        shift: int = opt(0, "shift the real images D classifies in its step (labelled and "
                            "unlabelled) by a random whole number of pixels up to this many "
                            "in x and y, filled with black (0 = off)", min=0)
        fm_std: float = opt(0.0, "weight of a second feature-matching term on the per-feature "
                                 "standard deviation over the batch: a collapsed G has none, "
                                 "real digits have a lot (0 = the paper's mean only)", min=0.0)
        consistency: float = opt(0.0, "weight of a consistency penalty on the unlabelled "
                                      "reals: squared difference of D's class softmax on one "
                                      "random shift and a teacher's on another (0 = off)",
                                 min=0.0)
        consistency_teacher: str = opt("self", "the teacher of the consistency penalty: D "
                                               "itself (Pi-model) or its running average "
                                               "(mean teacher, measured worse); in train mode, "
                                               "no gradient", choices=("self", "ema"))
        consistency_rampup: int = opt(0, "steps over which the consistency weight rises as "
                                         "exp(-5 (1 - t)^2) to its value (0 = full at once)",
                                      min=0)

    data_kinds = ("image",)
    capabilities = frozenset({"sample", "classify"})
    d_output = "prob"  # d_real / d_fake: p(real | x) = Z / (Z + 1)
    contract_overrides = {"z_dim": 8, "width": 0.05}
    contract_data = {"dataset": "semi:20:synthetic:64", "resolution": 28, "channels": 1}

    D_HIDDEN = (1000, 500, 250, 250, 250)
    G_HIDDEN = (500, 500)

    def __init__(self, cfg: Config, info):
        super().__init__(cfg, info)
        if info.num_classes < 2:
            raise DataError("sgan needs a labelled dataset to classify: use "
                            "data.dataset=semi:100:mnist (100 labels + the unlabelled rest)")
        shape = (info.channels, info.resolution, info.resolution)
        scale = lambda hs: [max(4, int(h * cfg.width)) for h in hs]  # noqa: E731
        self.nets["G"] = SGANGenerator(cfg.z_dim, shape, scale(self.G_HIDDEN), cfg.g_wn)
        if cfg.d_arch == "conv":
            self.nets["D"] = SGANConvDiscriminator(
                shape[0], info.num_classes, max(2, int(cfg.d_channels * cfg.width)),
                cfg.input_noise, cfg.hidden_noise, cfg.leak, cfg.train_scale, shape[1])
        else:
            self.nets["D"] = SGANDiscriminator(
                shape[0] * shape[1] * shape[2], info.num_classes, scale(self.D_HIDDEN),
                cfg.input_noise, cfg.hidden_noise, cfg.leak, cfg.train_scale)
        if not cfg.data_init:
            self.nets["D"].initialized.fill_(1)
        self._step = 0  # the training step, for the consistency ramp-up
        if cfg.consistency > 0 and cfg.consistency_teacher == "ema" and cfg.d_ema <= 0:
            raise ConfigError("model.consistency_teacher=ema needs D's running average: set "
                              "model.d_ema > 0 or model.consistency_teacher=self")
        if cfg.d_ema > 0:
            # the authors test with a running average of D's weights (their disc_param_avg):
            # the classifier of a noisy two-player game is much steadier averaged. Kept in
            # nets so that checkpoints hold it; no phase optimises it.
            self.nets["D_ema"] = copy.deepcopy(self.nets["D"]).requires_grad_(False)

    def loss(self, phase, batch, nets):
        G, D = nets["G"], nets["D"]
        real = batch["real"]
        n = real.shape[0]
        if phase == "D":
            if "labelled_real" not in batch:
                raise DataError("sgan trains on a semi-supervised set: use "
                                "data.dataset=semi:100:mnist")
            if not int(self.nets["D"].initialized):
                # once, on the first unlabelled batch (the flag is kept in checkpoints)
                self.nets["D"].data_init(real)
                if "D_ema" in self.nets:
                    self.nets["D_ema"].load_state_dict(self.nets["D"].state_dict())
            with torch.no_grad():
                fake = G(self.noise.randn(n, self.cfg.z_dim).to(real.device))
            sup_logits = D(self._shift(batch["labelled_real"]))
            sup = F.cross_entropy(sup_logits.float(), batch["labelled_label"])
            real_logits = D(self._shift(real)).float()
            s_real = torch.logsumexp(real_logits, 1)
            s_fake = torch.logsumexp(D(fake).float(), 1)
            unsup = (F.softplus(s_real) - s_real).mean() + F.softplus(s_fake).mean()
            acc = (sup_logits.argmax(1) == batch["labelled_label"]).float().mean()
            loss = sup + self.cfg.unsup_weight * unsup
            cons = {}
            if self.cfg.consistency > 0:
                c = self._consistency(real, real_logits)
                loss = loss + self.cfg.consistency * self._ramp() * c
                cons = {"consistency": c.detach()}
            logs = {**cons, "sup": sup.detach(), "unsup": unsup.detach(), "labelled_acc": acc,
                    "d_real": torch.sigmoid(s_real).mean().detach(),
                    "d_fake": torch.sigmoid(s_fake).mean().detach()}
            return loss, {"loss_d": loss.detach(), **logs}
        if phase == "G":
            fake = G(self.noise.randn(n, self.cfg.z_dim).to(real.device))
            _, f_real = D(real, return_features=True)
            _, f_fake = D(fake, return_features=True)
            # mean (not sum) over the features, as in the authors' code, so the logged value
            # is comparable whatever D's width
            f_real, f_fake = f_real.detach().float(), f_fake.float()
            fm = (f_real.mean(0) - f_fake.mean(0)).square().mean()
            if self.cfg.fm_std > 0:
                # G cannot match the spread of the features with one image per class (the
                # mean alone lets it collapse: seen with the conv D)
                sd = (f_real.std(0) - f_fake.std(0)).square().mean()
                return fm + self.cfg.fm_std * sd, {"loss_g": fm.detach(), "fm_std": sd.detach()}
            return fm, {"loss_g": fm.detach()}
        raise ValueError(f"sgan has no phase {phase!r}")

    def _consistency(self, real: torch.Tensor, real_logits: torch.Tensor) -> torch.Tensor:
        """Mean over the batch of the squared distance between D's class softmax on the
        (shifted) unlabelled reals and the teacher's on another draw of shifts and noise (the
        teacher in train mode, without gradient): D learns to give an image the class it gives
        the same digit moved, which 100 labels alone do not teach (Laine & Aila's Pi-model;
        Tarvainen & Valpola's mean teacher with ``consistency_teacher=ema``)."""
        teacher = self.nets["D_ema" if self.cfg.consistency_teacher == "ema" else "D"]
        with torch.no_grad():
            was = teacher.training
            teacher.train()
            try:
                target = F.softmax(teacher(self._shift(real)).float(), 1)
            finally:
                teacher.train(was)
        return (F.softmax(real_logits, 1) - target).square().sum(1).mean()

    def _ramp(self) -> float:
        """The consistency weight's factor: exp(-5 (1 - t)^2) over ``consistency_rampup``
        steps (Laine & Aila 2017), then 1."""
        n = self.cfg.consistency_rampup
        if n <= 0 or self._step >= n:
            return 1.0
        return math.exp(-5.0 * (1.0 - self._step / n) ** 2)

    def on_step_start(self, step: int, images_seen: int) -> None:
        self._step = step

    def _shift(self, x: torch.Tensor) -> torch.Tensor:
        """Random whole-pixel shifts of up to ``shift`` pixels, filled with black (-1): the
        background of digits, so a shifted digit looks like an unshifted one."""
        if not self.cfg.shift:
            return x
        from gankit.augment.diffaugment import translation

        return translation(x + 1, self.noise.rand, ratio=self.cfg.shift / x.shape[-1]) - 1

    @torch.no_grad()
    def after_step(self, phase: str) -> None:
        if phase == "D" and "D_ema" in self.nets:
            average_into(self.nets["D_ema"], self.nets["D"], self.cfg.d_ema)

    def lr_factor(self, step: int, total_steps: int) -> float:
        # the paper keeps lr 3e-3 and then anneals it linearly to 0; annealing lets D's
        # classifier settle instead of jittering with the two-player game
        return anneal_last(step, total_steps, self.cfg.lr_decay)

    def phases(self, train):
        return [Phase("D", ("D",), train.d_steps), Phase("G", ("G",), 1)]

    @torch.no_grad()
    def classify(self, x: torch.Tensor, D: nn.Module | None = None) -> torch.Tensor:
        """Class logits (N x K) of images ``x`` (float NCHW in [-1, 1]) by the averaged D
        (``d_ema``; D itself when that is off), in eval mode."""
        if D is None:
            D = self.nets["D_ema"] if "D_ema" in self.nets else self.nets["D"]
        was = D.training
        D.eval()
        try:
            return D(x)
        finally:
            D.train(was)
