r"""Domain-adversarial training of neural networks (DANN; Ganin & Lempitsky 2015, ICML).

Three networks: a feature extractor :math:`G_f(\cdot; \theta_f)`, a label classifier
:math:`G_y(\cdot; \theta_y)` and a domain classifier :math:`G_d(\cdot; \theta_d)`. Source
examples :math:`(x_i, y_i)` are labelled, target examples :math:`x_j` are not; :math:`d = 0`
marks the source domain and :math:`d = 1` the target. The objective is the saddle point

.. math::
    E(\theta_f, \theta_y, \theta_d) = \frac{1}{n} \sum_{i \in S} L_y(G_y(G_f(x_i)), y_i)
        - \lambda \Big( \frac{1}{n} \sum_{i \in S} L_d(G_d(G_f(x_i)), 0)
                      + \frac{1}{n'} \sum_{j \in T} L_d(G_d(G_f(x_j)), 1) \Big)

    (\hat\theta_f, \hat\theta_y) = \arg\min E, \qquad \hat\theta_d = \arg\max E

with :math:`L_y` the cross-entropy and :math:`L_d` the logistic loss. A gradient reversal layer
:math:`R_\lambda` between :math:`G_f` and :math:`G_d` (identity forward, :math:`-\lambda`
times the gradient backward; :mod:`gankit.nn.reversal`) turns the saddle point into one
ordinary minimisation of :math:`L_y + L_d(G_d(R_\lambda(G_f(x))))` by one optimizer over
all three networks: :math:`G_d` learns to tell the domains apart, :math:`G_f` learns features
that are discriminative for the labels and, through the reversed gradient, *invariant* to the
domain. So here the variant has one phase (``FCD``) updating F, C and D together; the trainer
does the rest as for every model.

Schedules of the paper, with :math:`p \in [0, 1]` the training progress (step / steps):

* :math:`\lambda_p = \lambda_{max} (2 / (1 + \exp(-\gamma p)) - 1)`, :math:`\gamma = 10`:
  the domain signal is ignored while the features are still noise, then ramps up;
* :math:`\mu_p = \mu_0 / (1 + \alpha p)^\beta`, :math:`\alpha = 10`, :math:`\beta = 0.75`:
  SGD with momentum 0.9; :math:`\mu_0` is ``train.lr_g`` for F and C and ``train.lr_d`` for D
  (the paper's 0.01 for both: F is the "generator" of features, D the discriminator).

``lambda_max = 0`` gives the *source-only* baseline with the same networks and schedule: D
still learns to tell the domains apart from the features, but nothing reaches F from it.

Networks follow the paper's MNIST -> MNIST-M model: F = conv 5x5 32, max-pool 2, ReLU, conv 5x5
48, max-pool 2, ReLU (on 28 x 28 inputs a 48 x 4 x 4 = 768-d feature); C = FC 100, FC 100,
FC K; D = FC 100, FC 1 (logit of "target"). ``width`` scales every layer; ``bottleneck``
ends F with a fully connected layer, ``d_hidden`` gives D more hidden layers. ``batch_norm``
(after every convolution and hidden layer) and ``dropout`` (after F's second convolution and
C's first layer) are the usual additions of public reimplementations; the preset uses both
(their effect on our MNIST-M-like set is measured in ``benchmarks/domain/RESULTS.md``).
``input_norm`` standardises each image per channel before F.

Train on ``data.dataset=domains:SOURCE,TARGET`` (:mod:`gankit.data.domains`), e.g. the preset
``mnist-to-mnistm-dann``; ``gankit adapt`` trains the source-only, DANN and train-on-target
runs and compares them.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from gankit.config import ModelConfig, opt
from gankit.errors import DataError
from gankit.models.base import GANModel, Phase, adam
from gankit.nn.reversal import reverse_gradient
from gankit.registry import MODELS


def dann_lambda(p: float, gamma: float = 10.0) -> float:
    r"""The paper's adaptation factor :math:`2 / (1 + e^{-\gamma p}) - 1` (0 at p=0, -> 1)."""
    return 2.0 / (1.0 + math.exp(-gamma * p)) - 1.0


def dann_lr_factor(p: float, alpha: float = 10.0, beta: float = 0.75) -> float:
    r"""The paper's learning-rate annealing :math:`1 / (1 + \alpha p)^\beta`."""
    return (1.0 + alpha * p) ** (-beta)


def _conv_out(size: int) -> int:
    return ((size - 4) // 2 - 4) // 2


class FeatureExtractor(nn.Module):
    """Conv 5x5 c1, max-pool, ReLU, conv 5x5 c2, max-pool, ReLU, flatten (N x c2*s*s)."""

    def __init__(self, channels: int, resolution: int, c1: int, c2: int, dropout: float,
                 batch_norm: bool = False, input_norm: bool = False, bottleneck: int = 0):
        super().__init__()
        self.input_norm = input_norm

        def norm(c: int) -> nn.Module:
            return nn.BatchNorm2d(c) if batch_norm else nn.Identity()

        self.net = nn.Sequential(
            nn.Conv2d(channels, c1, 5), norm(c1), nn.MaxPool2d(2), nn.ReLU(),
            nn.Conv2d(c1, c2, 5), norm(c2),
            nn.Dropout2d(dropout) if dropout > 0 else nn.Identity(),
            nn.MaxPool2d(2), nn.ReLU(), nn.Flatten())
        self.dim = c2 * _conv_out(resolution) ** 2
        if bottleneck:  # the features are a bottleneck layer's, not the flattened maps
            self.net.extend([nn.Linear(self.dim, bottleneck),
                             nn.BatchNorm1d(bottleneck) if batch_norm else nn.Identity(),
                             nn.ReLU()])
            self.dim = bottleneck

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.input_norm:  # each image's channels to zero mean, unit variance
            x = (x - x.mean((2, 3), keepdim=True)) / (x.std((2, 3), keepdim=True) + 1e-3)
        return self.net(x)


def _mlp(d_in: int, hidden: list[int], d_out: int, batch_norm: bool = False,
         dropout: float = 0.0) -> nn.Sequential:
    """Linear -> [batch norm] -> ReLU per hidden layer (dropout after the first), linear out."""
    layers: list[nn.Module] = []
    for i, h in enumerate(hidden):
        layers += [nn.Linear(d_in, h), nn.BatchNorm1d(h) if batch_norm else nn.Identity(),
                   nn.ReLU()]
        if i == 0 and dropout > 0:
            layers.append(nn.Dropout(dropout))
        d_in = h
    layers.append(nn.Linear(d_in, d_out))
    return nn.Sequential(*layers)


@MODELS.register("dann")
class DANN(GANModel):
    """Domain-adversarial training (DANN): label + domain classifiers, gradient reversal.

    F extracts features, C classifies labels, D tells the domains apart behind a gradient
    reversal layer. See the module docstring for the maths."""

    @dataclass
    class Config(ModelConfig):
        name: str = opt("dann", "registered model name")
        width: float = opt(1.0, "multiplier of every layer's width (1 = the paper's MNIST net)",
                           min=0.01)
        lambda_max: float = opt(1.0, "final weight of the reversed domain gradient (0 = the "
                                     "source-only baseline: D trains, F ignores it)", min=0.0)
        gamma: float = opt(10.0, "steepness of the lambda ramp 2/(1+exp(-gamma p))-1", min=0.0)
        lr_alpha: float = opt(10.0, "learning-rate annealing 1/(1+alpha p)^beta: alpha (0 = "
                                    "constant)", min=0.0)
        lr_beta: float = opt(0.75, "learning-rate annealing: beta", min=0.0)
        optimizer: str = opt("sgd", "sgd (with momentum, the paper) or adam (train.beta1/2)",
                             choices=("sgd", "adam"))
        momentum: float = opt(0.9, "SGD momentum", min=0.0, max=1.0)
        dropout: float = opt(0.0, "dropout after F's second convolution (whole channels) and "
                                  "after C's first hidden layer", min=0.0, max=0.9)
        input_norm: bool = opt(False, "standardise each image per channel before F (removes "
                                      "global colour and contrast shifts between domains)")
        batch_norm: bool = opt(False, "batch norm after every convolution and hidden layer "
                                      "(F's statistics over the mixed source + target batch)")
        d_hidden: int = opt(1, "hidden layers of 100 units in D (the paper's MNIST D has 1)",
                            min=1, max=4)
        bottleneck: int = opt(0, "a fully connected layer of this many units (+ ReLU) ends F, "
                                 "so C and D see its output (0 = the flattened conv maps, the "
                                 "paper's MNIST net)", min=0)
        d_steps: int = opt(0, "extra updates of D alone per step, each on a new batch of "
                              "detached features, before the joint update (0 = the paper)",
                           min=0, max=10)

    data_kinds = ("domains",)
    needs_labels = True
    capabilities = frozenset({"classify"})
    generator_nets = ()
    contract_overrides = {"width": 0.25}
    contract_data = {"dataset": "domains:synthetic:32,synthetic:24", "resolution": 16,
                     "channels": 3}

    def __init__(self, cfg: Config, info):
        super().__init__(cfg, info)
        if _conv_out(info.resolution) < 1:
            raise DataError(f"dann's feature extractor needs images of at least 16 x 16 "
                            f"(two 5x5 convolutions and two poolings); the data are "
                            f"{info.resolution} x {info.resolution}: set data.resolution")
        w = lambda n: max(2, int(round(n * cfg.width)))  # noqa: E731
        self.nets["F"] = FeatureExtractor(info.channels, info.resolution, w(32), w(48),
                                          cfg.dropout, cfg.batch_norm, cfg.input_norm,
                                          cfg.bottleneck)
        dim = self.nets["F"].dim
        self.nets["C"] = _mlp(dim, [w(100), w(100)], info.num_classes, cfg.batch_norm,
                              cfg.dropout)
        self.nets["D"] = _mlp(dim, [w(100)] * cfg.d_hidden, 1, cfg.batch_norm)
        self.total_steps = 1
        self.lambd = 0.0

    # ------------------------------------------------------------------ training
    def phases(self, train):
        self.total_steps = max(1, train.steps)  # p = step / steps drives both schedules
        joint = Phase("FCD", ("F", "C", "D"), 1)
        if not self.cfg.d_steps:
            return [joint]
        # D's extra updates step the joint optimizer too (its momentum and schedule)
        return [Phase("Dx", ("D",), self.cfg.d_steps, optimizer="FCD"), joint]

    def make_optimizer(self, phase, params, train):
        in_d = {id(p) for p in self.nets["D"].parameters()}
        groups = [{"params": [p for p in params if id(p) not in in_d], "lr": train.lr_g},
                  {"params": [p for p in params if id(p) in in_d], "lr": train.lr_d}]
        groups = [g for g in groups if g["params"]]
        if self.cfg.optimizer == "adam":
            return adam(groups, train.lr_g, (train.beta1, train.beta2), eps=train.adam_eps)
        return torch.optim.SGD(groups, lr=train.lr_g, momentum=self.cfg.momentum)

    def progress(self, step: int) -> float:
        return min(1.0, step / self.total_steps)

    def on_step_start(self, step: int, images_seen: int) -> None:
        self.lambd = self.cfg.lambda_max * dann_lambda(self.progress(step), self.cfg.gamma)

    def lr_factor(self, step: int, total_steps: int) -> float:
        p = min(1.0, step / max(1, total_steps))
        return dann_lr_factor(p, self.cfg.lr_alpha, self.cfg.lr_beta)

    def loss(self, phase, batch, nets):
        if phase not in ("FCD", "Dx"):
            raise ValueError(f"dann has no phase {phase!r}")
        if "target" not in batch:
            raise DataError("dann trains on a source/target pair: use "
                            "data.dataset=domains:SOURCE,TARGET (e.g. domains:mnist,mnistm-like)")
        Fnet, C, D = nets["F"], nets["C"], nets["D"]
        xs, ys, xt = batch["real"], batch["label"], batch["target"]
        n = xs.shape[0]
        if phase == "Dx":  # D alone on F's current features
            with torch.no_grad():
                f = Fnet(torch.cat([xs, xt]))
            loss_d, acc = self._domain_loss(D(f).float().squeeze(1), n)
            return loss_d, {"dx_domain_acc": acc}
        f = Fnet(torch.cat([xs, xt]))   # one pass over both domains (no batch statistics)
        logits = C(f[:n]).float()
        loss_c = F.cross_entropy(logits, ys)
        loss_d, domain_acc = self._domain_loss(
            D(reverse_gradient(f, self.lambd)).float().squeeze(1), n)
        with torch.no_grad():
            label_acc = (logits.argmax(1) == ys).float().mean()
        return loss_c + loss_d, {
            "loss_c": loss_c.detach(), "loss_d": loss_d.detach(), "label_acc": label_acc,
            "domain_acc": domain_acc, "lambda": torch.tensor(self.lambd)}

    @staticmethod
    def _domain_loss(dom_logit: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(domain loss, D's accuracy) for logits of ``n`` source then the target examples."""
        dom = torch.cat([torch.zeros(n), torch.ones(len(dom_logit) - n)]).to(dom_logit.device)
        # the paper's E: the mean domain loss over the source plus the mean over the target
        # (each domain weighs as much as the label loss, whatever the batch sizes)
        per = F.binary_cross_entropy_with_logits(dom_logit, dom, reduction="none")
        with torch.no_grad():
            acc = ((dom_logit > 0).float() == dom).float().mean()
        return per[:n].mean() + per[n:].mean(), acc

    # ------------------------------------------------------------------ using it
    def _eval(self, fn, x: torch.Tensor, batch_size: int) -> torch.Tensor:
        was = {k: m.training for k, m in self.nets.items()}
        self.nets.eval()
        try:
            with torch.no_grad():
                return torch.cat([fn(x[i:i + batch_size]) for i in range(0, len(x), batch_size)])
        finally:
            for k, m in self.nets.items():
                m.train(was[k])

    def classify(self, x: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
        """Class logits (N x K) of images ``x`` (float NCHW in [-1, 1]), in eval mode."""
        return self._eval(lambda b: self.nets["C"](self.nets["F"](b)), x, batch_size)

    def features(self, x: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
        """F's features (N x d) of images ``x`` (float NCHW in [-1, 1]), in eval mode."""
        return self._eval(self.nets["F"], x, batch_size)

    def domain_logits(self, feats: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
        """D's logit of "target" (N) for features ``feats`` (N x d)."""
        return self._eval(lambda b: self.nets["D"](b).squeeze(1), feats, batch_size)
