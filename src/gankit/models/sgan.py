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

G is trained by *feature matching*, not by fooling D: with :math:`f` D's last hidden layer,

.. math:: L_G = \lVert E_{x \sim data} f(x) - E_z f(G(z)) \rVert_2^2

which the paper found gives a much better classifier than the usual G loss (and worse
samples). The classifier is D's K logits: ``classify(x)``.

Networks follow the paper's MNIST model: D is an MLP 1000-500-250-250-250 with weight
normalisation, Gaussian noise (std 0.3 on the input, 0.5 after each hidden layer) and
LeakyReLU (the paper uses ReLU); G is an MLP 500-500 (softplus, batch norm) to C x R x R with
tanh (our images are in [-1, 1]). ``width`` scales every hidden layer.

Train on ``data.dataset=semi:100:mnist`` (:mod:`gankit.data.semi`), which provides the
unlabelled stream and a labelled one.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from gankit.config import ModelConfig, opt
from gankit.errors import DataError
from gankit.models.base import GANModel, Phase
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


class SGANDiscriminator(nn.Module):
    def __init__(self, in_dim: int, num_classes: int, hidden: list[int], input_noise: float,
                 hidden_noise: float):
        super().__init__()
        from torch.nn.utils.parametrizations import weight_norm

        layers: list[nn.Module] = [nn.Flatten(), GaussianNoise(input_noise)]
        d = in_dim
        for h in hidden:
            layers += [weight_norm(nn.Linear(d, h)), nn.LeakyReLU(0.2), GaussianNoise(hidden_noise)]
            d = h
        self.body = nn.Sequential(*layers)
        self.head = weight_norm(nn.Linear(d, num_classes))

    def forward(self, x: torch.Tensor, return_features: bool = False):
        f = self.body(x)
        logits = self.head(f)
        return (logits, f) if return_features else logits


class SGANGenerator(nn.Module):
    def __init__(self, z_dim: int, shape: tuple[int, int, int], hidden: list[int]):
        super().__init__()
        layers: list[nn.Module] = []
        d = z_dim
        for h in hidden:
            layers += [nn.Linear(d, h), nn.BatchNorm1d(h), nn.Softplus()]
            d = h
        c, r, _ = shape
        layers += [nn.Linear(d, c * r * r), nn.Tanh()]
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
        input_noise: float = opt(0.3, "std of D's Gaussian input noise", min=0.0)
        hidden_noise: float = opt(0.5, "std of the Gaussian noise after D's hidden layers",
                                  min=0.0)
        unsup_weight: float = opt(1.0, "weight w of D's unsupervised (real vs fake) loss",
                                  min=0.0)

    data_kinds = ("image",)
    capabilities = frozenset({"sample", "classify"})
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
        self.nets["G"] = SGANGenerator(cfg.z_dim, shape, scale(self.G_HIDDEN))
        self.nets["D"] = SGANDiscriminator(shape[0] * shape[1] * shape[2], info.num_classes,
                                           scale(self.D_HIDDEN), cfg.input_noise,
                                           cfg.hidden_noise)

    def loss(self, phase, batch, nets):
        G, D = nets["G"], nets["D"]
        real = batch["real"]
        n = real.shape[0]
        if phase == "D":
            if "labelled_real" not in batch:
                raise DataError("sgan trains on a semi-supervised set: use "
                                "data.dataset=semi:100:mnist")
            with torch.no_grad():
                fake = G(self.noise.randn(n, self.cfg.z_dim).to(real.device))
            sup_logits = D(batch["labelled_real"])
            sup = F.cross_entropy(sup_logits.float(), batch["labelled_label"])
            s_real = torch.logsumexp(D(real).float(), 1)
            s_fake = torch.logsumexp(D(fake).float(), 1)
            unsup = (F.softplus(s_real) - s_real).mean() + F.softplus(s_fake).mean()
            acc = (sup_logits.argmax(1) == batch["labelled_label"]).float().mean()
            loss = sup + self.cfg.unsup_weight * unsup
            return loss, {"loss_d": loss.detach(), "sup": sup.detach(), "unsup": unsup.detach(),
                          "labelled_acc": acc, "d_real": torch.sigmoid(s_real).mean().detach(),
                          "d_fake": torch.sigmoid(s_fake).mean().detach()}
        if phase == "G":
            fake = G(self.noise.randn(n, self.cfg.z_dim).to(real.device))
            _, f_real = D(real, return_features=True)
            _, f_fake = D(fake, return_features=True)
            fm = (f_real.detach().float().mean(0) - f_fake.float().mean(0)).square().sum()
            return fm, {"loss_g": fm.detach()}
        raise ValueError(f"sgan has no phase {phase!r}")

    def phases(self, train):
        return [Phase("D", ("D",), train.d_steps), Phase("G", ("G",), 1)]

    @torch.no_grad()
    def classify(self, x: torch.Tensor, D: nn.Module | None = None) -> torch.Tensor:
        """Class logits (N x K) of images ``x`` (float NCHW in [-1, 1]); D in eval mode."""
        D = self.nets["D"] if D is None else D
        was = D.training
        D.eval()
        try:
            return D(x)
        finally:
            D.train(was)


@torch.no_grad()
def classifier_accuracy(model: SGAN, images: torch.Tensor, labels: torch.Tensor,
                        batch_size: int = 1000) -> dict[str, float]:
    """Accuracy and error count of ``model.classify`` on float images in [-1, 1]."""
    correct = 0
    for i in range(0, len(images), batch_size):
        pred = model.classify(images[i:i + batch_size]).argmax(1)
        correct += int((pred.cpu() == labels[i:i + batch_size].cpu()).sum())
    n = len(images)
    return {"accuracy": correct / n, "errors": n - correct, "examples": n}
