"""CycleGAN (Zhu et al., ICCV 2017): the model, its losses, its image pool and schedule."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from gankit.config import ModelConfig, TrainConfig, opt
from gankit.data.base import DataInfo
from gankit.errors import ConfigError, GankitError
from gankit.models.base import GANModel, Phase
from gankit.losses.adversarial import target_loss
from gankit.models.base import anneal_last
from gankit.nn.translation import check_images
from gankit.utils.images import triplet_grid
from gankit.nn.translation import (NORMS, PatchDiscriminator, ResnetGenerator, UNetGenerator,
                                   fit_patch_layers)
from gankit.registry import MODELS


class ImagePool:
    """History of up to ``size`` generated images (Shrivastava et al. 2017).

    ``query(fakes, u)`` takes one row of two uniform numbers per image (``u``: N x 2, from the
    run's seeded noise): while the pool is filling every fake is stored and returned; after
    that, with probability 1/2 a fake is swapped with a random stored image, which is returned
    in its place. The state (``images``, ``count``) goes into checkpoints for exact resume.
    """

    def __init__(self, size: int = 50):
        self.size = size
        self.images: torch.Tensor | None = None
        self.count = 0

    def query(self, fakes: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        if self.size == 0:
            return fakes
        fakes = fakes.detach()
        if self.images is None or self.images.shape[1:] != fakes.shape[1:]:
            self.images = fakes.new_zeros((self.size, *fakes.shape[1:]))
            self.count = 0
        out = []
        for i in range(fakes.shape[0]):
            img = fakes[i]
            if self.count < self.size:
                self.images[self.count] = img
                self.count += 1
                out.append(img)
            elif float(u[i, 0]) < 0.5:
                j = min(int(float(u[i, 1]) * self.size), self.size - 1)
                old = self.images[j].clone()
                self.images[j] = img
                out.append(old)
            else:
                out.append(img)
        return torch.stack(out)

    def state_dict(self) -> dict[str, Any]:
        imgs = None if self.images is None else self.images[:self.count].detach().cpu()
        return {"images": imgs, "count": self.count}

    def load_state_dict(self, state: dict[str, Any], device: torch.device) -> None:
        self.count = int(state["count"])
        imgs = state["images"]
        if imgs is None:
            self.images = None
            return
        self.images = imgs.new_zeros((self.size, *imgs.shape[1:])).to(device)
        self.images[:self.count] = imgs.to(device)


@MODELS.register("cyclegan")
class CycleGAN(GANModel):
    """CycleGAN: unpaired translation both ways with cycle-consistency (Zhu et al. 2017).

    Two generators G: X -> Y and F: Y -> X (here ``G_AB`` and ``G_BA``), two discriminators
    D_Y (``D_B``, real B vs G(x)) and D_X (``D_A``, real A vs F(y)):

        L_GAN(G, D_Y) = E_y[(D_Y(y) - 1)^2] + E_x[D_Y(G(x))^2]                 (least squares)
        L_cyc(G, F)   = E_x[ ||F(G(x)) - x||_1 ] + E_y[ ||G(F(y)) - y||_1 ]
        L_idt(G, F)   = E_y[ ||G(y) - y||_1 ] + E_x[ ||F(x) - x||_1 ]
        L = L_GAN(G, D_Y) + L_GAN(F, D_X) + lambda L_cyc + lambda_idt lambda L_idt,
            lambda = 10, lambda_idt = 0.5

    G and F minimise E[(D(G(x)) - 1)^2] (LSGAN generator loss); each D minimises
    1/2 [(D(real) - 1)^2 + D(fake)^2]. The cycle loss keeps the content (a translated image must
    carry enough of the input to get it back), the identity loss keeps colours when the input
    already looks like the target domain. D is trained on a *history* of generated images
    (a pool of 50; each new fake replaces a random stored one with probability 1/2 and the stored
    one is shown instead) to damp oscillation. Learning rate constant for the first half of
    training, then linear decay to zero.

    Phases: ``G`` updates both generators from the sum above; ``D`` updates both discriminators,
    using the fakes made in the G phase of the same step (passed through the pools).
    """

    @dataclass
    class Config(ModelConfig):
        name: str = opt("cyclegan", "registered model name")
        generator: str = opt("resnet", "generators: ResNet blocks (CycleGAN) or U-Net",
                             choices=("resnet", "unet"))
        ngf: int = opt(64, "generator width", min=1)
        ndf: int = opt(64, "discriminator width", min=1)
        n_blocks: int = opt(9, "residual blocks (paper: 6 at 128x128, 9 at 256x256)", min=0)
        n_layers_d: int = opt(3, "PatchGAN depth: 3 = 70x70 patches", min=0, max=6)
        norm: str = opt("instance", "normalisation in G and D", choices=NORMS)
        lambda_cycle: float = opt(10.0, "weight of the cycle-consistency loss (both ways)",
                                  min=0.0)
        lambda_identity: float = opt(0.5, "identity loss weight, as a fraction of "
                                          "lambda_cycle (0 = off)", min=0.0)
        pool_size: int = opt(50, "generated-image history shown to D (0 = latest fakes only)",
                             min=0)
        gan_loss: str = opt("lsgan", "adversarial loss: lsgan (paper) or vanilla",
                            choices=("lsgan", "vanilla"))
        decay_start: float = opt(0.5, "fraction of training at constant LR before the linear "
                                      "decay to zero", min=0.0, max=1.0)

    data_kinds = ("unpaired", "paired")  # paired data can be used as unpaired: pairs ignored
    capabilities = frozenset({"translate"})
    generator_nets = ("G_AB", "G_BA")
    contract_overrides = {"ngf": 8, "ndf": 8, "n_blocks": 1}
    contract_data = {"dataset": "synthetic-unpaired:16", "resolution": 32, "channels": 3}

    def __init__(self, cfg: Config, info: DataInfo):
        super().__init__(cfg, info)
        c, r = info.channels, info.resolution
        for name in ("G_AB", "G_BA"):
            if cfg.generator == "resnet":
                if r % 4:
                    raise ConfigError(f"the ResNet generator needs a resolution divisible by "
                                      f"4, got {r}")
                self.nets[name] = ResnetGenerator(c, c, cfg.ngf, cfg.n_blocks, cfg.norm)
            else:
                if r < 8 or r & (r - 1):
                    raise ConfigError(f"the U-Net generator needs a power-of-two resolution "
                                      f">= 8, got {r}")
                self.nets[name] = UNetGenerator(c, c, r, cfg.ngf, cfg.norm, dropout=0.0)
        n_layers = fit_patch_layers(r, cfg.n_layers_d)
        for name in ("D_A", "D_B"):
            self.nets[name] = PatchDiscriminator(c, cfg.ndf, n_layers, cfg.norm)
        self.pool_A, self.pool_B = ImagePool(cfg.pool_size), ImagePool(cfg.pool_size)
        self._fakes: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None

    # ------------------------------------------------------------------ training
    def phases(self, train: TrainConfig) -> list[Phase]:
        return [Phase("G", ("G_AB", "G_BA")), Phase("D", ("D_A", "D_B"))]

    def lr_factor(self, step: int, total_steps: int) -> float:
        return anneal_last(step, total_steps, 1.0 - self.cfg.decay_start)

    def loss(self, phase: str, batch: Mapping[str, torch.Tensor],
             nets: Mapping[str, nn.Module]):
        if phase == "G":
            return self._loss_g(batch["A"], batch["B"], nets)
        if phase == "D":
            return self._loss_d(batch["A"], batch["B"], nets)
        raise ValueError(f"cyclegan has phases G and D, not {phase!r}")

    def _loss_g(self, real_a, real_b, nets):
        cfg = self.cfg
        g_ab, g_ba = nets["G_AB"], nets["G_BA"]
        fake_b, fake_a = g_ab(real_a), g_ba(real_b)
        rec_a, rec_b = g_ba(fake_b), g_ab(fake_a)
        adv_ab = target_loss(nets["D_B"](fake_b), True, cfg.gan_loss)
        adv_ba = target_loss(nets["D_A"](fake_a), True, cfg.gan_loss)
        cyc_a = (rec_a.float() - real_a.float()).abs().mean()
        cyc_b = (rec_b.float() - real_b.float()).abs().mean()
        total = adv_ab + adv_ba + cfg.lambda_cycle * (cyc_a + cyc_b)
        logs = {"g_adv_ab": adv_ab.detach(), "g_adv_ba": adv_ba.detach(),
                "cycle_a": cyc_a.detach(), "cycle_b": cyc_b.detach()}
        if cfg.lambda_identity > 0:
            idt_a = (g_ba(real_a).float() - real_a.float()).abs().mean()
            idt_b = (g_ab(real_b).float() - real_b.float()).abs().mean()
            total = total + cfg.lambda_identity * cfg.lambda_cycle * (idt_a + idt_b)
            logs.update(idt_a=idt_a.detach(), idt_b=idt_b.detach())
        # the D phase of this step reuses these fakes (no second generator forward)
        self._fakes = (real_a, fake_a.detach(), fake_b.detach())
        return total, logs

    def _loss_d(self, real_a, real_b, nets):
        cfg = self.cfg
        if self._fakes is not None:
            # the fakes of this step's G phase (D is unconditional: they need not come from
            # the batch D is given, which the trainer draws afresh for each phase)
            _, fake_a, fake_b = self._fakes
        else:  # D phase run on its own: make the fakes here
            with torch.no_grad():
                fake_a, fake_b = nets["G_BA"](real_b), nets["G_AB"](real_a)
        self._fakes = None
        # the pools' coin flips come from the run's seeded noise (saved in checkpoints)
        u = self.noise.rand(fake_a.shape[0] + fake_b.shape[0], 2)
        fake_a = self.pool_A.query(fake_a, u[:fake_a.shape[0]])
        fake_b = self.pool_B.query(fake_b, u[fake_a.shape[0]:])
        losses = {}
        for name, real, fake in (("d_a", real_a, fake_a), ("d_b", real_b, fake_b)):
            d = nets["D_A" if name == "d_a" else "D_B"]
            losses[name] = 0.5 * (target_loss(d(real), True, cfg.gan_loss)
                                  + target_loss(d(fake), False, cfg.gan_loss))
        total = losses["d_a"] + losses["d_b"]
        # the trainer logs the total as loss_d
        return total, {"loss_d_a": losses["d_a"].detach(), "loss_d_b": losses["d_b"].detach()}

    def extra_state(self) -> dict[str, Any]:
        return {"pool_A": self.pool_A.state_dict(), "pool_B": self.pool_B.state_dict()}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        device = next(self.parameters()).device
        if "pool_A" in state:
            self.pool_A.load_state_dict(state["pool_A"], device)
            self.pool_B.load_state_dict(state["pool_B"], device)

    # ------------------------------------------------------------------ using it
    def translate(self, x: torch.Tensor, direction: str = "AtoB") -> torch.Tensor:
        """Translate images (N x C x R x R in [-1, 1]) with G_AB (AtoB) or G_BA (BtoA)."""
        if direction not in ("AtoB", "BtoA"):
            raise GankitError(f"direction must be AtoB or BtoA, got {direction!r}")
        # the ResNet generator downsamples twice (stride 2) and upsamples back
        check_images(x, self.info.channels, "cyclegan.translate", 4)
        return self.nets["G_AB" if direction == "AtoB" else "G_BA"](x)

    def generate(self, z, labels=None, G=None, **options):
        raise GankitError("CycleGAN translates images and has no latent space to sample; use "
                          "`gankit translate RUN INPUT --direction AtoB --out FOLDER`")

    preview_nrow = 3  # training sample grids: input | translation | reconstruction per row

    def preview(self, z, labels, batch, gens, chunk: int = 64) -> torch.Tensor:
        """Sample-grid images: 4 rows of A | G_AB(A) | G_BA(G_AB(A)), then 4 of B | G_BA(B) |
        G_AB(G_BA(B))."""
        a, b = batch["A"][:4], batch["B"][:4]
        fb, fa = gens["G_AB"](a), gens["G_BA"](b)
        return torch.cat([triplet_grid([a, fb, gens["G_BA"](fb)]),
                          triplet_grid([b, fa, gens["G_AB"](fa)])])
