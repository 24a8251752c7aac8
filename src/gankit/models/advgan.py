r"""AdvGAN (Xiao et al., IJCAI 2018): a generator of adversarial perturbations.

A frozen, already trained classifier :math:`f` (the *target*, ``model.target``) is attacked by a
generator :math:`G` that maps an image to a perturbation bounded in L-infinity,

.. math:: \delta = G(x) = \epsilon \tanh(h(x)), \qquad
          x' = \mathrm{clip}_{[0, 1]}(x + \delta), \qquad \lVert \delta \rVert_\infty \le \epsilon

(pixels in [0, 1] at the classifier's boundary, see :mod:`gankit.attacks`; the library's
images in [-1, 1] are converted there). A discriminator :math:`D` tells clean images from
perturbed ones, so :math:`x'` stays close to the data distribution. The objective is

.. math::
    \mathcal{L} = \mathcal{L}_{adv} + \alpha \mathcal{L}_{GAN} + \beta \mathcal{L}_{hinge},
    \qquad \mathcal{L}_{hinge} = E_x \max(0, \lVert \delta \rVert_2 - c)

with the Carlini-Wagner margin as the attack loss (:func:`gankit.losses.attack.margin`):
untargeted :math:`\mathcal{L}_{adv} = E \max(Z_y(x') - \max_{i \ne y} Z_i(x'), -\kappa)`,
targeted to class t :math:`E \max(\max_{i \ne t} Z_i(x') - Z_t(x'), -\kappa)` (written
:math:`\max(m + \kappa, 0)`, which has the same gradients). ``adv_weight``, ``gan_weight``
(:math:`\alpha`) and ``hinge_weight`` (:math:`\beta`) weigh the three terms; :math:`\kappa > 0`
asks for a margin of confidence, so that examples do not sit on the decision boundary, where
the hinge term keeps pulling them back. :math:`y` is the batch's label where the data set has
labels the target can name, else the target's own clean prediction.

Networks as in the paper's MNIST model: G an encoder / residual-blocks / decoder
(:class:`~gankit.nn.translation.ResnetGenerator`, ending in tanh), D a small PatchGAN; the
GAN loss is least squares (``gan_loss``, any registered loss). G is the only generator net:
an export holds it, and ``gankit attack RUN INPUT`` uses it (one forward pass per image).

The target is loaded when training starts (not when the model is built, so a run's export
loads without it) and never trained: it is not one of ``nets``, so checkpoints do not hold it;
they record its name and the sha256 of its file (``extra_state``).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import torch
from torch import nn

from gankit.config import ModelConfig, opt
from gankit.errors import ConfigError, GankitError
from gankit.losses.attack import margin
from gankit.models.base import GANModel, Phase
from gankit.nn.translation import NORMS, PatchDiscriminator, ResnetGenerator, fit_patch_layers
from gankit.registry import LOSSES, MODELS

log = logging.getLogger(__name__)


@MODELS.register("advgan")
class AdvGAN(GANModel):
    """AdvGAN (Xiao et al. 2018): perturbations that fool a frozen classifier, |delta| <= eps."""

    @classmethod
    def d_output_of(cls, cfg):  # D's logged outputs are those of its GAN loss (models/base)
        from gankit.models.base import cfg_value
        from gankit.registry import LOSSES

        return LOSSES.get(cfg_value(cfg, "gan_loss", "lsgan")).output

    @dataclass
    class Config(ModelConfig):
        name: str = opt("advgan", "registered model name")
        target: str = opt("mnist", "classifier to attack: mnist, fashion-mnist, mnist-lenet, or "
                                   "a TorchScript file mapping [0, 1] images N x C x H x W to "
                                   "logits N x K")
        eps: float = opt(0.3, "L-infinity bound of the perturbation, in [0, 1] pixel units",
                         min=0.0, max=1.0)
        target_class: int = opt(-1, "class the adversarial images should be classified as; "
                                    "-1 = untargeted (any wrong class)", min=-1)
        kappa: float = opt(0.0, "confidence margin kappa of the attack loss, in logits",
                           min=0.0)
        adv_weight: float = opt(10.0, "weight of the attack (margin) loss", min=0.0)
        gan_weight: float = opt(1.0, "weight alpha of the GAN loss (realism of x + delta)",
                                min=0.0)
        hinge_weight: float = opt(1.0, "weight beta of the hinge loss on ||delta||_2", min=0.0)
        hinge_bound: float = opt(0.1, "c: L2 norm of delta (per image, [0, 1] pixels) below "
                                      "which the hinge loss is 0", min=0.0)
        gan_loss: str = opt("lsgan", "adversarial loss of D and G by name (`gankit list`)")
        ngf: int = opt(8, "G width (channels of its first layer)", min=1)
        n_blocks: int = opt(4, "residual blocks in G", min=0)
        ndf: int = opt(8, "D width (channels of its first layer)", min=1)
        d_layers: int = opt(2, "PatchGAN depth of D (fewer on small images)", min=0, max=6)
        norm: str = opt("instance", "normalisation in G and D", choices=NORMS)

    data_kinds = ("image",)
    capabilities = frozenset({"attack"})
    generator_nets = ("G",)
    contract_overrides = {"target": "untrained", "ngf": 4, "ndf": 4, "n_blocks": 1}
    preview_nrow = 3  # sample grids: clean | perturbation (amplified) | adversarial per row

    def __init__(self, cfg: Config, info):
        super().__init__(cfg, info)
        c, r = info.channels, info.resolution
        if r % 4:
            raise ConfigError(f"advgan's generator needs an image size divisible by 4, got {r}; "
                              f"set data.resolution (MNIST's 28 works)")
        self.nets["G"] = ResnetGenerator(c, c, cfg.ngf, cfg.n_blocks, cfg.norm)
        self.nets["D"] = PatchDiscriminator(c, cfg.ndf, fit_patch_layers(r, cfg.d_layers),
                                            cfg.norm)
        self.adv = LOSSES.get(cfg.gan_loss)(cfg)
        self._tc = None if cfg.target_class < 0 else int(cfg.target_class)
        # the frozen target, loaded on first use; kept out of the module tree (not in nets,
        # state_dict or parameters) so the trainer never optimises, moves or saves it
        object.__setattr__(self, "_target", None)
        self._target_digest = ""
        self._stash: tuple | None = None

    # ------------------------------------------------------------------ the target
    def target_net(self, device: torch.device | str = "cpu"):
        """The frozen target classifier (:class:`~gankit.attacks.targets.Target`) on
        ``device``, loaded and checked against the data's shape on first use."""
        from gankit.attacks.targets import load_target, probe

        t = self._target
        if t is None:
            t = load_target(self.cfg.target, channels=self.info.channels, device=device)
            k = probe(t, self.info.channels, self.info.resolution, device)
            if self._tc is not None and self._tc >= k:
                raise ConfigError(f"model.target_class={self._tc} but target "
                                  f"{self.cfg.target!r} has classes 0..{k - 1}")
            if self._target_digest and t.digest and t.digest != self._target_digest:
                log.warning("target %s is not the file this run was trained against (sha256 "
                            "%s, now %s)", self.cfg.target, self._target_digest, t.digest)
            self._target_digest = t.digest or self._target_digest
            object.__setattr__(self, "_target", t)
            object.__setattr__(self, "_num_classes", k)
        if next(iter(t.parameters()), torch.empty(0, device=device)).device != \
                torch.device(device):
            t.to(device)
        return t

    def extra_state(self):
        return {"target": self.cfg.target, "target_sha256": self._target_digest}

    def load_extra_state(self, state):
        self._target_digest = str(state.get("target_sha256") or self._target_digest)

    # ------------------------------------------------------------------ the maths
    def perturb(self, x: torch.Tensor, G: nn.Module | None = None) -> torch.Tensor:
        """delta (N x C x H x W, [0, 1] pixel units, |delta| <= eps) for images ``x`` in
        [-1, 1]. G ends in tanh, so eps * G(x) is bounded by construction (computed in fp32:
        eps * 1.0 in bf16 would round above eps)."""
        G = self.nets["G"] if G is None else G
        return self.cfg.eps * G(x).float().clamp(-1, 1)

    def attack(self, x01: torch.Tensor, G: nn.Module | None = None) -> torch.Tensor:
        """Adversarial images in [0, 1] for clean images ``x01`` in [0, 1] (N x C x H x W)."""
        if x01.dim() != 4 or x01.shape[1] != self.info.channels:
            raise GankitError(f"advgan attacks images N x {self.info.channels} x H x W, got "
                              f"{tuple(x01.shape)}")
        return (x01.float() + self.perturb(x01 * 2 - 1, G)).clamp(0, 1)

    def _labels(self, batch, x01, target) -> torch.Tensor:
        y = batch.get("label")
        k = getattr(self, "_num_classes", 0)
        if y is not None and y.numel() and int(y.min()) >= 0 and int(y.max()) < k:
            return y
        with torch.no_grad():  # no usable labels: fool the target's own clean prediction
            return target(x01).argmax(1)

    def phases(self, train):
        # D first; its last update keeps G's graph (Phase.keep) and the G phase scores those
        # same perturbed images: one G forward per step, and no second data batch
        self._d_steps = train.d_steps
        return [Phase("D", ("D",), train.d_steps, keep=("G",)),
                Phase("G", ("G",), 1, batch=False)]

    _d_steps = 1
    _d_calls = 0

    def on_step_start(self, step: int, images_seen: int) -> None:
        self._d_calls = 0
        self._stash = None

    def loss(self, phase, batch, nets):
        cfg = self.cfg
        if phase == "D":
            real = batch["real"]
            target = self.target_net(real.device)
            x01 = (real.float() + 1) / 2
            self._d_calls += 1
            if self._d_calls >= self._d_steps:
                delta = self.perturb(real, nets["G"])  # graph kept for the G phase
                adv01 = (x01 + delta).clamp(0, 1)
                self._stash = (adv01, delta, self._labels(batch, x01, target))
                adv = (adv01 * 2 - 1).detach()
            else:
                with torch.no_grad():
                    adv = ((x01 + self.perturb(real, nets["G"])).clamp(0, 1)) * 2 - 1
            real_logits, fake_logits = nets["D"](real), nets["D"](adv.to(real.dtype))
            loss = self.adv.d_loss(real_logits, fake_logits)
            return loss, {"loss_d": loss.detach(),
                          "d_real": self.adv.prob(real_logits.detach()).mean(),
                          "d_fake": self.adv.prob(fake_logits.detach()).mean()}
        if phase == "G":
            if self._stash is None:
                raise RuntimeError("advgan's G phase runs after its D phase in the same step")
            adv01, delta, y = self._stash
            self._stash = None  # the graph is used once
            target = self.target_net(adv01.device)
            logits = target(adv01)
            m = margin(logits, y, self._tc)
            l_adv = (m + cfg.kappa).clamp_min(0).mean()
            l_gan = self.adv.g_loss(nets["D"](adv01 * 2 - 1))
            l2 = delta.flatten(1).norm(dim=1)
            l_hinge = (l2 - cfg.hinge_bound).clamp_min(0).mean()
            loss = cfg.adv_weight * l_adv + cfg.gan_weight * l_gan + cfg.hinge_weight * l_hinge
            return loss, {"loss_g": loss.detach(), "attack": l_adv.detach(),
                          "gan": l_gan.detach(), "hinge": l_hinge.detach(),
                          "success": (m < 0).float().mean().detach(),
                          "l2": l2.mean().detach(),
                          "linf": delta.detach().abs().flatten(1).amax(1).mean()}
        raise ValueError(f"advgan has phases D and G, not {phase!r}")

    # ------------------------------------------------------------------ using it
    def make_latents(self, seeds):
        raise GankitError("advgan perturbs images and has no latent space to sample; use "
                          "`gankit attack RUN INPUT --out DIR`")

    def generate(self, z, labels=None, G=None, **options):
        self.make_latents([])

    @torch.no_grad()
    def preview(self, z, labels, batch, gens, chunk: int = 64) -> torch.Tensor:
        """Rows of clean | perturbation (amplified to the full range) | adversarial image."""
        x = batch["real"][:8].float()
        delta = self.perturb(x, gens["G"])
        adv = ((x + 1) / 2 + delta).clamp(0, 1) * 2 - 1
        amp = delta / max(self.cfg.eps, 1e-8)  # -eps..eps shown as -1..1 (black..white)
        return torch.stack([x, amp, adv], 1).flatten(0, 1).cpu()
