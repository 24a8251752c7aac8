"""Shared maths of unconditional generator/discriminator pairs (``gan``, ``dcgan``, ...).

A subclass builds ``G`` (z -> image) and ``D`` (image -> one logit per image); this class
picks the adversarial loss by name (``model.loss``) and runs the two phases. The same config
also selects D's regularizer and the training recipe that goes with each objective:

* ``penalty=gp``: WGAN-GP gradient penalty on random real/fake interpolates (weight
  ``gp_weight``, 10 in the paper; use with ``loss=wasserstein``, ``train.d_steps=5`` and
  Adam(lr 1e-4, betas 0, 0.9));
* ``penalty=r1``: R1 on the reals (the loss adds ``r1_gamma / 2 * R1``); with ``r1_every``
  = k > 1 (lazy R1) a ``Dr1`` phase runs every k steps in place of ``D`` (``Phase.replaces``):
  the same D update with ``k * r1_gamma / 2 * R1`` in its loss, so the model keeps no step
  counter and the trainer decides which steps take R1;
* ``clip=c``: WGAN weight clipping of D's parameters to [-c, c] after every D step, with
  RMSprop for both nets as in the WGAN paper;
* ``spectral_norm``: spectral normalisation of every layer of D (SN-GAN);
* ``pack=m``: PacGAN (Lin et al. 2018) - D sees m real or m fake samples concatenated, so a
  generator that repeats itself is easy to spot (subclasses build D for ``pack`` times the
  input channels/features; the batch size must be a multiple of m);
* ``augment``: DiffAugment policy applied to real and fake alike before D (``ada_target`` > 0
  adapts its probability as in ADA; the probability is kept in checkpoints);
* ``topk=f``: top-k training (Sinha et al. 2020) - G's loss takes only the fraction f of
  the fakes that D rates most real, after a linear ramp from 1 over ``topk_ramp`` steps.

``reuse_fakes`` (default on): the last D update of a step generates its fakes with G's graph
kept (``Phase.keep``), and the G phase scores those same fakes with the updated D and
backpropagates through them: one G forward per step instead of two, and no data batch for the
G phase. Every loss here allows it, since G's loss needs only D(G(z)) for some z ~ N(0, I).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch import nn

from gankit.config import ModelConfig, opt
from gankit.errors import ConfigError
from gankit.models.base import GANModel, Phase, anneal_last, cfg_value
from gankit.registry import LOSSES


@dataclass
class AdversarialConfig(ModelConfig):
    z_dim: int = opt(100, "size of the latent vector z", min=1)
    loss: str = opt("bce", "adversarial loss by name (`gankit list` shows them)")
    label_smoothing: float = opt(1.0, "target for real labels with the bce loss; 0.9 = one-sided "
                                      "label smoothing", min=0.5, max=1.0)
    penalty: str = opt("none", "D regularizer: none, gp (WGAN-GP, on real/fake interpolates) "
                               "or r1 (on reals)", choices=("none", "gp", "r1"))
    gp_weight: float = opt(10.0, "weight lambda of the gradient penalty", min=0.0)
    r1_gamma: float = opt(10.0, "R1 weight gamma (the D loss adds gamma/2 * R1)", min=0.0)
    r1_gamma_anneal: float = opt(-1.0, "R1 weight over the learning-rate anneal (the last "
                                       "model.lr_decay of the run); on grid25 it sets how wide "
                                       "G draws each mode, a weaker R1 narrower "
                                       "(-1 = model.r1_gamma throughout)", min=-1.0)
    r1_every: int = opt(1, "lazy R1 (StyleGAN2): take R1 only on steps that are a multiple of "
                           "this, weighted by it (1 = every D step)", min=1)
    clip: float = opt(0.0, "WGAN weight clipping: clamp D's parameters to [-clip, clip] after "
                           "each D step and train with RMSprop (0 = off)", min=0.0)
    spectral_norm: bool = opt(False, "spectrally normalise every linear/conv layer of D")
    augment: str = opt("", "DiffAugment policy applied to real and fake before D, e.g. "
                           "color,translation,cutout (empty = off)")
    augment_p: float = opt(1.0, "probability of each augmentation per image (fixed strength)",
                           min=0.0, max=1.0)
    ada_target: float = opt(0.0, "ADA: adapt the augmentation probability so that "
                                 "E[sign D(real)] stays at this target (0 = off, 0.6 in ADA)",
                            min=0.0, max=1.0)
    ada_speed: float = opt(100_000, "ADA: images for the probability to go from 0 to 1",
                           min=1.0)
    pack: int = opt(1, "PacGAN packing: D judges this many samples at once, concatenated "
                       "(channels for images, features for points); 1 = off", min=1)
    lr_decay: float = opt(0.0, "decay both learning rates linearly to 0 over this last fraction "
                               "of the run (0 = constant)", min=0.0, max=1.0)
    lr_warmup: int = opt(0, "raise both learning rates linearly from 1/N to full over the first N "
                            "steps, so the first large Adam steps cannot wreck a wide net "
                            "(0 = off)", min=0)
    topk: float = opt(1.0, "top-k training (Sinha et al. 2020): G's loss takes only this "
                           "fraction of the fakes, those D rates most real, so G is not "
                           "pulled by the hopeless ones (1 = all)", min=0.01, max=1.0)
    topk_ramp: int = opt(2000, "steps over which the kept fraction falls linearly from 1 to "
                               "model.topk (D's early ratings are poor)", min=0)
    reuse_fakes: bool = opt(True, "the G phase backpropagates through the fakes of the step's "
                                  "last D update instead of drawing new ones (one G forward "
                                  "per step, as in the PyTorch DCGAN example); false = a fresh "
                                  "z and batch for G")


class _Nets(nn.ModuleDict):
    """ModuleDict that applies the config's D-side layer regularizer when ``D`` is set, so a
    subclass only builds plain networks (``self.nets["D"] = ...``)."""

    def __init__(self, spectral: bool):
        super().__init__()
        object.__setattr__(self, "_spectral", spectral)

    def __setitem__(self, key: str, module: nn.Module) -> None:
        if key == "D" and self._spectral:
            from gankit.losses.penalties import spectral_norm

            module = spectral_norm(module)
        super().__setitem__(key, module)


class AdversarialGAN(GANModel):
    """Two-player GAN: D phase on real and detached fake batches, then G phase.

    Class-conditional subclasses (``needs_labels = True``) get ``G(z, y)`` and ``D(x, y)``
    with ``y`` the batch's labels in both phases (fakes are generated for the real batch's
    classes, so the label marginal is the data's and gradient-penalty interpolates join a real
    and a fake of the same class).
    """

    @classmethod
    def d_output_of(cls, cfg):  # what the loss's ``prob`` logs (models/base.D_OUTPUTS)
        return LOSSES.get(cfg_value(cfg, "loss", "bce")).output

    def __init__(self, cfg: AdversarialConfig, info):
        super().__init__(cfg, info)
        self.adv = LOSSES.get(cfg.loss)(cfg)
        self.nets = _Nets(cfg.spectral_norm)
        # a gradient of a gradient: the trainer must not torch.compile these nets
        self.double_backward = cfg.penalty != "none"
        if cfg.r1_gamma_anneal != -1.0:
            if cfg.r1_gamma_anneal < 0:
                raise ConfigError(f"model.r1_gamma_anneal={cfg.r1_gamma_anneal}: an R1 "
                                  f"weight is >= 0, or -1 to keep model.r1_gamma")
            if cfg.penalty != "r1" or cfg.lr_decay <= 0:
                raise ConfigError("model.r1_gamma_anneal needs model.penalty=r1 and "
                                  "model.lr_decay > 0 (it is the R1 weight of the anneal)")
        self.augment = None
        if cfg.augment:
            if info.kind != "image":
                raise ConfigError(f"model.augment={cfg.augment!r}: DiffAugment works on images, "
                                  f"not {info.kind} data; set model.augment=''")
            from gankit.augment.diffaugment import DiffAugment

            self.augment = DiffAugment(cfg.augment, cfg.augment_p, target=cfg.ada_target,
                                       speed=cfg.ada_speed)

    def _aug(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.augment is None else self.augment(x, self.noise.rand)

    def _pack(self, x: torch.Tensor) -> torch.Tensor:
        """N x C x ... -> N/m x (m C) x ...: m consecutive samples side by side (PacGAN)."""
        m = self.cfg.pack
        if m == 1:
            return x
        if x.shape[0] % m:
            raise ConfigError(f"model.pack={m} needs a batch size divisible by {m} "
                              f"(got {x.shape[0]}); change train.batch_size")
        return x.reshape(x.shape[0] // m, m * x.shape[1], *x.shape[2:])

    def phases(self, train):
        self._d_steps = train.d_steps
        self._steps = train.steps
        if not self.cfg.reuse_fakes:
            phases = super().phases(train)
        else:
            phases = [Phase("D", ("D",), train.d_steps, keep=("G",)),
                      Phase("G", ("G",), 1, batch=False)]
        if self.cfg.penalty == "r1" and self.cfg.r1_every > 1:  # lazy R1: D's loss with R1
            phases.append(replace(phases[0], name="Dr1", interval=self.cfg.r1_every,
                                  optimizer="D", replaces="D"))
        return phases

    _step = 0  # the step under way, and the run's length, for the schedules above
    _steps = 0
    _d_steps = 1  # D updates per step (the last one keeps its fakes for G when reusing)
    _d_calls = 0  # D updates so far in this step
    _stash: tuple | None = None  # (fakes with G's graph, their labels) for the G phase

    def _nets(self, nets, y):
        G = nets["G"] if y is None else (lambda z_: nets["G"](z_, y))
        if y is None:
            D = lambda x_: nets["D"](self._pack(x_))  # noqa: E731
        elif self.cfg.pack > 1:
            raise ConfigError("model.pack is for unconditional models; set model.pack=1")
        else:
            D = lambda x_: nets["D"](x_, y)  # noqa: E731
        return G, D

    def loss(self, phase, batch, nets):
        cfg = self.cfg
        d_phase = phase in ("D", "Dr1")
        if not d_phase and self._stash is not None:
            fake, y = self._stash
            self._stash = None  # the graph is used once
            _, D = self._nets(nets, y)
            fake_logits = D(self._aug(fake))
            return self.adv.g_loss(self._top(fake_logits)), {}  # logged as loss_g
        if "real" not in batch:
            raise RuntimeError(f"phase {phase!r} has no batch and no fakes kept by a D phase of "
                               f"this step (reuse_fakes needs the D phase to run first)")
        real = batch["real"]
        z = self.draw_latents(real.shape[0])
        y = batch["label"] if self.needs_labels else None
        G, D = self._nets(nets, y)
        if d_phase:
            self._d_calls += 1
            if cfg.reuse_fakes and self._d_calls >= self._d_steps:
                fake = G(z)  # G's graph kept for the G phase (Phase.keep)
                self._stash = (fake, y)
                fake = fake.detach()
            else:
                with torch.no_grad():
                    fake = G(z)
            real_in, fake_in = self._aug(real), self._aug(fake)
            # R1 in every D loss, or (lazy) in the loss of the Dr1 phase that replaces D
            r1_due = cfg.penalty == "r1" and (cfg.r1_every == 1 or phase == "Dr1")
            if r1_due:  # R1 is taken with respect to what D sees
                real_in = real_in.detach().requires_grad_(True)
            real_logits = D(real_in)
            fake_logits = D(fake_in)
            loss = self.adv.d_loss(real_logits, fake_logits)
            # the trainer logs the phase's total (penalties included) as loss_d
            logs = {"d_real": self.adv.prob(real_logits.detach()).mean(),
                    "d_fake": self.adv.prob(fake_logits.detach()).mean()}
            if cfg.penalty == "gp":
                from gankit.losses.penalties import gradient_penalty

                alpha = self.noise.rand(real.shape[0])
                gp = gradient_penalty(D, real_in, fake_in, alpha)
                loss = loss + cfg.gp_weight * gp
                logs["gp"] = gp.detach()
            elif r1_due:
                from gankit.losses.penalties import r1_penalty

                # lazy regularisation: the same expected penalty, taken 1/r1_every as often
                r1 = r1_penalty(real_logits, real_in)
                loss = loss + 0.5 * self._r1_gamma() * cfg.r1_every * r1
                logs["r1"] = r1.detach()
            if self.augment is not None:
                self.augment.update(real_logits)
                logs["augment_p"] = torch.tensor(self.augment.p)
            return loss, logs
        fake_logits = D(self._aug(G(z)))
        return self.adv.g_loss(self._top(fake_logits)), {}

    def draw_latents(self, n: int) -> torch.Tensor:
        """The training step's ``n`` latents (a subclass may add structured parts)."""
        return self.noise.randn(n, self.latent_dim)

    _keep = 1.0  # the fraction of fakes G's loss takes at this step (top-k training)

    def _top(self, logits: torch.Tensor) -> torch.Tensor:
        """The rows of D's output on fakes that G's loss uses: the ``_keep`` fraction D rates
        most real (all of them when ``model.topk`` is 1)."""
        if self._keep >= 1.0:
            return logits
        k = max(1, round(self._keep * logits.shape[0]))
        score = logits.detach().reshape(logits.shape[0], -1).mean(1)
        return logits[score.topk(k).indices]

    def make_optimizer(self, phase, params, train):
        if self.cfg.clip > 0:
            # WGAN (Arjovsky et al. 2017): momentum-based optimizers destabilised the clipped
            # critic, so the paper uses RMSprop (lr 5e-5) for both nets
            lr = train.lr_d if phase.name.startswith("D") else train.lr_g
            return torch.optim.RMSprop(params, lr=lr)
        return super().make_optimizer(phase, params, train)

    def after_step(self, phase: str) -> None:
        if self.cfg.clip > 0 and phase.startswith("D"):
            from gankit.losses.penalties import clip_weights

            clip_weights(self.nets["D"], self.cfg.clip)

    def _r1_gamma(self) -> float:
        g = self.cfg.r1_gamma_anneal
        if g >= 0 and self._step >= (1.0 - self.cfg.lr_decay) * self._steps:
            return g
        return self.cfg.r1_gamma

    def on_step_start(self, step: int, images_seen: int) -> None:
        self._step = step
        self._d_calls = 0
        self._stash = None
        ramp = min(1.0, step / self.cfg.topk_ramp) if self.cfg.topk_ramp else 1.0
        self._keep = 1.0 - (1.0 - self.cfg.topk) * ramp

    def lr_factor(self, step: int, total_steps: int) -> float:
        # annealing the step size shrinks the oscillation of the two-player game, so samples
        # settle onto the modes instead of jittering around them
        warm = min(1.0, (step + 1) / self.cfg.lr_warmup) if self.cfg.lr_warmup else 1.0
        return warm * anneal_last(step, total_steps, self.cfg.lr_decay)

    def extra_state(self):
        return {"augment": self.augment.state_dict()} if self.augment is not None else {}

    def load_extra_state(self, state):
        if self.augment is not None and state.get("augment"):
            self.augment.load_state_dict(state["augment"])
