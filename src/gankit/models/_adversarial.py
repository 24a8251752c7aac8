"""Shared maths of unconditional generator/discriminator pairs (``gan``, ``dcgan``, ...).

A subclass builds ``G`` (z -> image) and ``D`` (image -> one logit per image); this class
picks the adversarial loss by name (``model.loss``) and runs the two phases.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from gankit.config import ModelConfig, opt
from gankit.models.base import GANModel
from gankit.registry import LOSSES


@dataclass
class AdversarialConfig(ModelConfig):
    z_dim: int = opt(100, "size of the latent vector z", min=1)
    loss: str = opt("bce", "adversarial loss by name (`gankit list` shows them)")
    label_smoothing: float = opt(1.0, "target for real labels with the bce loss; 0.9 = one-sided "
                                      "label smoothing", min=0.5, max=1.0)


class AdversarialGAN(GANModel):
    """Two-player GAN: D phase on real and detached fake batches, then G phase."""

    def __init__(self, cfg: AdversarialConfig, info):
        super().__init__(cfg, info)
        self.adv = LOSSES.get(cfg.loss)(cfg)

    def loss(self, phase, batch, nets):
        real = batch["real"]
        z = self.noise.randn(real.shape[0], self.latent_dim)
        if phase == "D":
            with torch.no_grad():
                fake = nets["G"](z)
            real_logits = nets["D"](real)
            fake_logits = nets["D"](fake)
            loss = self.adv.d_loss(real_logits, fake_logits)
            return loss, {"loss_d": loss.detach(),
                          "d_real": self.adv.prob(real_logits.detach()).mean(),
                          "d_fake": self.adv.prob(fake_logits.detach()).mean()}
        fake = nets["G"](z)
        fake_logits = nets["D"](fake)
        loss = self.adv.g_loss(fake_logits)
        return loss, {"loss_g": loss.detach()}
