"""StyleGAN2-ADA (Karras et al. 2020, "Analyzing and Improving the Image Quality of StyleGAN";
Karras et al. 2020, "Training Generative Adversarial Networks with Limited Data")."""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from gankit.config import TrainConfig, opt
from gankit.data.base import DataInfo
from gankit.errors import ConfigError
from gankit.losses.adversarial import LogisticLoss
from gankit.losses.penalties import r1_penalty
from gankit.models._style import StyleConfig, StyleSampling
from gankit.models.base import GANModel, Phase, check_adam_betas, model_adam
from gankit.nn.progressive import channel_rule, internal_resolution, to_internal
from gankit.nn.stylegan2_layers import Generator, ResidualDiscriminator, StridedDiscriminator
from gankit.registry import MODELS


@dataclass
class StyleGAN2Config(StyleConfig):
    name: str = opt("stylegan2", "registered model name")
    r1_gamma: float = opt(1.0, "R1 weight gamma: L_D += gamma/2 * E||grad D(real)||^2 "
                               "(ADA's rule of thumb: 0.0002 * resolution^2 / batch)", min=0.0)
    r1_interval: int = opt(16, "lazy R1: the Dreg phase runs every N steps, its loss "
                               "weighted by N (0 gamma = no Dreg phase)", min=1)
    pl_weight: float = opt(2.0, "path-length regularisation weight (0 = no Greg phase)",
                           min=0.0)
    pl_interval: int = opt(4, "the Greg (path length) phase runs every N steps, weighted by N",
                           min=1)
    pl_decay: float = opt(0.01, "decay of the running mean path length a", min=0.0, max=1.0)
    pl_batch_shrink: int = opt(2, "the Greg phase uses batch_size / this many latents", min=1)
    g_architecture: str = opt("skip", "generator output: skip (a ToRGB at every resolution, "
                                      "summed: the paper's) or orig (one ToRGB at the end)",
                              choices=("skip", "orig"))
    noise_max_res: int = opt(0, "per-pixel noise inputs only in the layers up to this "
                                "resolution (0 = every layer, as in the paper)", min=0)
    g_input: str = opt("const", "the synthesis network's 4x4 input: const (a learned "
                                "constant, the paper's) or dense (a linear map of the first "
                                "style input w, as ProGAN's first layer)",
                       choices=("const", "dense"))
    d_architecture: str = opt("resnet", "discriminator body: resnet (residual blocks of 3x3 "
                                        "convolutions, the paper's) or strided (DCGAN's 4x4 "
                                        "stride-2 convolutions, cheaper per map)",
                              choices=("resnet", "strided"))
    d_fmap_max: int = opt(0, "most feature maps of any D layer (0 = model.fmap_max)", min=0)
    noise_fade: float = opt(0.0, "fade the per-pixel noise out linearly over the last this "
                                 "fraction of the run, to none at the end (0 = never)",
                            min=0.0, max=1.0)
    augment: str = opt("color,translation,cutout", "augmentations applied to every image D "
                       "sees, real and fake, in D's and G's phases (empty = off)")
    augment_p: float = opt(1.0, "fixed probability of each augmentation per image when "
                                "ada_target is 0", min=0.0, max=1.0)
    ada_target: float = opt(0.6, "ADA: adjust the augmentation probability p so that "
                                 "r_t = E[sign D(real)] stays at this target (0 = fixed p)",
                            min=0.0, max=1.0)
    ada_interval: int = opt(4, "ADA: adjust p every N D steps", min=1)
    ada_speed: float = opt(500_000, "ADA: images for p to go from 0 to 1 (500 kimg in the "
                                    "paper)", min=1.0)


@MODELS.register("stylegan2")
class StyleGAN2(StyleSampling, GANModel):
    r"""StyleGAN2 with adaptive discriminator augmentation (ADA).

    Generator: mapping network ``w = f(z)`` (``mapping_layers`` equalized FC layers, lr x0.01),
    a learned 4x4 constant, then per resolution modulated 3x3 convolutions with weight
    demodulation (:mod:`gankit.nn.stylegan2_layers`), per-pixel noise with a learned strength,
    and a skip architecture (a ToRGB at every resolution, images summed after upsampling).
    Style mixing: with probability 0.9 an image takes ``f(z_2)`` from a random crossover on.
    Truncation: ``w' = \bar w + \psi (w - \bar w)`` with ``\bar w`` the tracked mean of f(z).
    Off by default (screened for short runs, benchmarks/faces/RESULTS.md): ``g_input`` dense
    replaces the constant by a linear map of the first style input; ``noise_fade`` scales
    every noise strength by a gain (a buffer, kept in checkpoints and exports) that falls
    linearly to 0 over the run's last fraction, so the final generator draws no noise.

    Discriminator: residual blocks, minibatch stddev, equalized LR (``d_architecture``
    strided: DCGAN's stride-2 4x4 convolutions instead of the blocks, with ``d_fmap_max``
    setting D's widest layer apart from G's). Every image D sees, real or
    fake, in every phase, goes through the augmentation ``T`` (DiffAugment's ops applied with
    probability ``p``; with ``ada_target`` > 0, ``p`` moves by ``sign(r_t - target) * images /
    ada_speed`` every ``ada_interval`` D steps, ``r_t = E[sign D(T(x))]``).

    Phases (lazy regularisation, one optimizer per group shared by main and reg phases):

    .. math::
        \text{Gmain: } & E[\mathrm{softplus}(-D(T(G(z))))] \\
        \text{Greg (every } k_G\text{): } & k_G\,\lambda_{pl}\, E[(\lVert J_w^T y\rVert_2 - a)^2],
            \quad y \sim N(0, I) / \sqrt{HW},\ a \leftarrow a + \beta (\bar{\lVert J^T y\rVert} - a) \\
        \text{Dmain: } & E[\mathrm{softplus}(D(T(G(z))))] + E[\mathrm{softplus}(-D(T(x)))] \\
        \text{Dreg (every } k_D\text{): } & k_D\, \tfrac{\gamma}{2}\, E[\lVert\nabla_x D(T(x))\rVert^2]

    The regularisers are multiplied by their interval here; the trainer corrects the shared
    optimizer's lr and betas by ``k / (k + 1)`` (stylegan2-ada's ``mb_ratio``). The path-length
    phase uses ``batch / pl_batch_shrink`` latents. Sampling options: ``psi``,
    ``truncation_cutoff``, ``mix_z``/``mix_seeds`` with ``mix_layers``, ``noise``.

    Logged: ``d_real``/``d_fake`` (mean logits of D on augmented reals/fakes), ``g_score``
    (mean logit of the G phase's fakes), ``augment_p`` and ``ada_rt`` (ADA's p and last r_t),
    ``r1``, ``pl_penalty`` and ``pl_mean`` (the running mean path length a).
    """

    Config = StyleGAN2Config
    capabilities = frozenset({"sample", "truncate", "mix"})
    double_backward = True
    d_output = "logit"
    contract_overrides = {"z_dim": 8, "w_dim": 8, "mapping_layers": 2, "fmap_base": 64,
                          "fmap_max": 8}

    def __init__(self, cfg: StyleGAN2Config, info: DataInfo):
        super().__init__(cfg, info)
        check_adam_betas(cfg)
        self.size = internal_resolution(info.resolution)
        ch = channel_rule(cfg.fmap_base, cfg.fmap_max)
        self.nets["G"] = Generator(cfg.z_dim, cfg.w_dim, info.channels, self.size, ch,
                                   cfg.mapping_layers, cfg.mapping_lr_mul, cfg.noise_lr_mul,
                                   cfg.noise_max_res, cfg.g_architecture, cfg.g_input)
        d_ch = channel_rule(cfg.fmap_base, cfg.d_fmap_max or cfg.fmap_max)
        D = StridedDiscriminator if cfg.d_architecture == "strided" else ResidualDiscriminator
        self.nets["D"] = D(info.channels, self.size, d_ch, cfg.mbstd_group)
        self.num_ws = self.nets["G"].num_ws
        self.layer_res = self.nets["G"].synthesis.layer_res
        self.augment = None
        if cfg.augment:
            from gankit.augment.diffaugment import DiffAugment

            self.augment = DiffAugment(cfg.augment, cfg.augment_p, target=cfg.ada_target,
                                       interval=cfg.ada_interval, speed=cfg.ada_speed)
        self.pl_mean = 0.0
        self.batch_size = 0
        self.total_steps = 0
        self.adv = LogisticLoss(float32=False)  # in D's own dtype, as before the vocabulary

    # ------------------------------------------------------------------ training
    def phases(self, train: TrainConfig) -> list[Phase]:
        self.batch_size, self.total_steps = train.batch_size, train.steps
        c = self.cfg
        phases = [Phase("Gmain", ("G",), batch=False, optimizer="G")]
        if c.pl_weight > 0:
            phases.append(Phase("Greg", ("G",), batch=False, interval=c.pl_interval,
                                optimizer="G"))
        phases.append(Phase("Dmain", ("D",), optimizer="D"))
        if c.r1_gamma > 0:
            phases.append(Phase("Dreg", ("D",), interval=c.r1_interval, optimizer="D"))
        return phases

    def noise_gain(self, step: int) -> float:
        """The factor on every noise strength at ``step`` (``noise_fade``'s schedule)."""
        fade = self.cfg.noise_fade
        if fade <= 0 or self.total_steps <= 0:
            return 1.0
        start = (1.0 - fade) * self.total_steps
        return min(1.0, max(0.0, (self.total_steps - step - 1) / (self.total_steps - start)))

    def on_step_start(self, step: int, images_seen: int) -> None:
        if self.cfg.noise_fade > 0:
            gain = self.noise_gain(step)
            for layer in self.nets["G"].synthesis.convs:  # the layers that add noise
                layer.noise_gain.fill_(gain)

    def make_optimizer(self, phase: Phase, params: list[nn.Parameter],
                       train: TrainConfig) -> torch.optim.Optimizer:
        return model_adam(self.cfg, phase, params, train)

    def extra_state(self) -> dict[str, Any]:
        state: dict[str, Any] = {"pl_mean": self.pl_mean}
        if self.augment is not None:
            state["augment"] = self.augment.state_dict()
        return state

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.pl_mean = float(state.get("pl_mean", 0.0))
        if self.augment is not None and state.get("augment"):
            self.augment.load_state_dict(state["augment"])

    def _aug(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.augment is None else self.augment(x, self.noise.rand)

    def loss(self, phase: str, batch: dict[str, torch.Tensor],
             nets: Mapping[str, nn.Module]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        G, D = nets["G"], nets["D"]
        if phase == "Gmain":
            fake = G(**self._training_inputs(self.batch_size), w_avg_beta=self.cfg.w_avg_beta)
            logits = D(self._aug(fake))
            return self.adv.g_loss(logits), {"g_score": logits.mean().detach()}
        if phase == "Greg":
            return self._path_length(G)
        real = to_internal(batch["real"], self.size)
        if phase == "Dmain":
            with torch.no_grad():
                fake = G(**self._training_inputs(real.shape[0]))
            d_fake, d_real = D(self._aug(fake)), D(self._aug(real))
            loss = self.adv.d_loss(d_real, d_fake)
            logs = {"d_real": d_real.mean().detach(), "d_fake": d_fake.mean().detach()}
            if self.augment is not None:
                self.augment.update(d_real)
                logs["augment_p"] = torch.tensor(self.augment.p)
                if hasattr(self.augment, "last_rt"):
                    logs["ada_rt"] = torch.tensor(self.augment.last_rt)
            return loss, logs
        if phase == "Dreg":
            real = real.detach().requires_grad_(True)
            r1 = r1_penalty(D(self._aug(real)).float(), real)
            return r1 * (self.cfg.r1_gamma / 2 * self.cfg.r1_interval), {"r1": r1.detach()}
        raise ConfigError(f"stylegan2 has no phase {phase!r}")

    def _path_length(self, G: nn.Module) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Path-length regularisation on batch / pl_batch_shrink latents (see class doc)."""
        c = self.cfg
        n = max(1, self.batch_size // c.pl_batch_shrink)
        inputs = self._training_inputs(n)
        ws = G.ws(inputs["z"], mix_z=inputs["mix_z"], mix_mask=inputs["mix_mask"])
        img = G.synthesis(ws, inputs["noises"])
        y = self.noise.randn(n, *img.shape[1:]).to(img.dtype) / math.sqrt(img.shape[2]
                                                                           * img.shape[3])
        (grad,) = torch.autograd.grad((img * y).sum(), ws, create_graph=True)
        lengths = grad.float().square().sum(2).mean(1).sqrt()
        mean = self.pl_mean + c.pl_decay * (float(lengths.detach().mean()) - self.pl_mean)
        self.pl_mean = mean
        penalty = (lengths - mean).square().mean()
        return penalty * (c.pl_weight * c.pl_interval), {"pl_penalty": penalty.detach(),
                                                         "pl_mean": torch.tensor(mean)}
