"""The variant contract every registered GAN follows.

A variant owns the maths: its networks, its phases and each phase's loss. The trainer
(:mod:`gankit.train.trainer`) owns the mechanics: zero_grad, backward, gradient clipping,
optimizer steps, requires_grad toggling, mixed precision, multi-process gradient averaging,
EMA, checkpoints. Adding a variant means one file in ``gankit/models/`` that subclasses
:class:`GANModel` and registers itself with ``@MODELS.register("name")``, plus a preset.

What a variant declares:

* ``Config``: a dataclass (subclass of :class:`~gankit.config.ModelConfig`) whose defaults
  train a small model;
* ``data_kinds``: the kinds of :class:`~gankit.data.base.DataInfo` it accepts, and
  ``needs_labels`` for class-conditional variants;
* ``__init__(cfg, info)``: builds ``self.nets`` (a ModuleDict: ``G``, ``D``, ...);
* ``phases(train_cfg)``: the ordered phases of one training step, each updating some nets
  (a phase may also ``keep`` the autograd graph of other nets for a later phase of the same
  step, and may take no data batch: ``Phase(..., batch=False)``); a phase may run only every
  ``interval`` steps and may share a named ``optimizer`` with other phases (lazy
  regularisation, see :class:`Phase`), or run every ``interval`` steps in place of another
  phase (``replaces``: a variant of that phase's loss, e.g. with lazy R1 in it);
* ``loss(phase, batch, nets)``: a scalar loss and a dict of tensors to log;
* optional hooks: ``make_optimizer``, ``after_step`` (e.g. weight clipping), ``lr_factor``,
  ``on_step_start`` (e.g. progressive growth), ``extra_state`` / ``load_extra_state``;
* ``d_output``: what its D phase logs as ``d_real`` / ``d_fake`` (batch means): ``"prob"``
  (probability that the input is real), ``"logit"`` (D's raw log-odds), ``"score"`` (an
  unbounded critic score) or None (no D outputs logged); ``d_output_of(model_cfg)`` when it
  depends on the config (the adversarial models' ``model.loss``). The health monitor and the
  report read it instead of guessing;
* ``capabilities``: what the sampling tools may ask of it (``sample``, ``conditional``,
  ``translate``, ``truncate``, ``mix``, ``attack``: ``attack(x01, G)`` gives adversarial
  images, see ``advgan``), read by the CLI and the studio;
* ``contract_overrides``: config values that make a tiny model for the contract test.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from gankit.config import ModelConfig, TrainConfig
from gankit.data.base import DataInfo, NoiseSource
from gankit.errors import ConfigError, DataError


@dataclass(frozen=True)
class Phase:
    """One part of a training step: ``repeats`` optimizer steps on the parameters of ``nets``.

    ``keep``: nets whose parameters keep ``requires_grad`` in this phase although the phase
    does not update them, so that a tensor it computes through them (e.g. the D phase's fake
    batch) can carry its graph to a later phase of the same step (the G phase backpropagates
    through it instead of running G again). ``batch=False``: the phase draws no batch from the
    data loader (its loss gets an empty dict).

    ``interval``: the phase runs only on training steps with ``step % interval == 0`` (steps
    count from 0, so the first step runs every phase). ``optimizer``: the name of the optimizer
    the phase steps (default: the phase's own name). Phases naming the same optimizer share one
    optimizer over the union of their nets' parameters, built by ``make_optimizer`` for the
    phase whose name is the group's (else the group's first phase), so that e.g. ``D`` and a
    lazy ``Dreg`` share Adam's moments as in stylegan2-ada.

    Lazy regularisation (Karras et al. 2020, stylegan2-ada ``training_loop.py``), who does what:

    * the **model** scales the regulariser's loss by the interval (``gamma / 2 * R1 *
      interval``), so the expected penalty per step is unchanged;
    * the **trainer** corrects the group's optimizer, once, when it is built: for a group that
      has a phase with ``interval = k > 1`` besides its every-step phase(s), the optimizer
      makes ``k + 1`` updates every ``k`` steps instead of ``k``, so with
      ``mb_ratio = k / (k + 1)`` its learning rates are multiplied by ``mb_ratio`` and Adam's
      betas become ``(beta1 ** mb_ratio, beta2 ** mb_ratio)`` (optimizers without betas get
      only the lr correction). The phases of one group with ``interval > 1`` must share one
      interval.

    ``replaces``: the name of an every-step phase of the same optimizer that this phase runs
    *in place of* on the steps it is due (``interval``), at that phase's place in the step.
    It is the other way of lazy regularisation, the adversarial models' ``r1_every``: every
    k-th step the D phase's own loss carries R1 weighted by k, so D still makes one update per
    step and the trainer applies no ``mb_ratio`` correction. It logs under the replaced
    phase's names (``loss_d``, ``grad_norm/D``).
    """

    name: str
    nets: tuple[str, ...]
    repeats: int = 1
    keep: tuple[str, ...] = ()
    batch: bool = True
    interval: int = 1
    optimizer: str | None = None
    replaces: str | None = None

    def __post_init__(self) -> None:
        if int(self.interval) < 1 or int(self.repeats) < 1:
            raise ValueError(f"phase {self.name!r}: interval and repeats must be >= 1, got "
                             f"{self.interval} and {self.repeats}")

    @property
    def group(self) -> str:
        """The name of the optimizer this phase steps."""
        return self.optimizer or self.name

    def due(self, step: int) -> bool:
        """Whether the phase runs on training step ``step`` (counted from 0)."""
        return step % self.interval == 0


def check_phases(phases: list[Phase]) -> None:
    """Raise ValueError on phase lists the trainer cannot run (names, ``replaces``)."""
    by_name = {ph.name: ph for ph in phases}
    if len(by_name) < len(phases):
        raise ValueError(f"phase names repeat: {[ph.name for ph in phases]}")
    taken: set[str] = set()
    for ph in phases:
        if not ph.replaces:
            continue
        other = by_name.get(ph.replaces)
        if other is None or other.replaces or other.interval != 1:
            raise ValueError(f"phase {ph.name!r} replaces {ph.replaces!r}, which is not an "
                             f"every-step phase of {[p.name for p in phases]}")
        if other.group != ph.group or ph.replaces in taken:
            raise ValueError(f"phase {ph.name!r} must step the optimizer of the phase it "
                             f"replaces ({other.group!r}), and be its only replacement")
        taken.add(ph.replaces)


def due_phases(phases: list[Phase], step: int) -> list[tuple[int, Phase]]:
    """The phases that run at training step ``step`` (from 0), in order, each with its index
    in ``phases``: the due ones, a due ``replaces`` phase in the place of the one it replaces."""
    instead = {ph.replaces: i for i, ph in enumerate(phases) if ph.replaces and ph.due(step)}
    out = []
    for i, ph in enumerate(phases):
        if ph.replaces:
            continue
        if ph.name in instead:
            out.append((instead[ph.name], phases[instead[ph.name]]))
        elif ph.due(step):
            out.append((i, ph))
    return out


def log_names(phases: list[Phase]) -> dict[str, str]:
    """The name each phase's numbers are logged under (``loss_<name lower-cased>``,
    ``grad_norm/<name>``): its optimizer's name for the one phase that steps that optimizer
    every step (the player's loss: ``Dmain`` of optimizer ``D`` logs ``loss_d``), else its own
    name (lazy regularisers such as ``Dreg``, or several every-step phases of one optimizer)."""
    own = [ph for ph in phases if not ph.replaces]  # a replacement logs as what it replaces
    every_step: dict[str, list[str]] = {}
    for ph in own:
        if ph.interval == 1:
            every_step.setdefault(ph.group, []).append(ph.name)
    names = {}
    for ph in own:
        main = ph.interval == 1 and len(every_step[ph.group]) == 1
        names[ph.name] = ph.group if main else ph.name
    if len(set(names.values())) < len(names):  # e.g. a phase named like another's optimizer
        names = {ph.name: ph.name for ph in own}
    return {**names, **{ph.name: names[ph.replaces] for ph in phases if ph.replaces}}


def lazy_ratio(phases: list[Phase]) -> float:
    """stylegan2-ada's ``mb_ratio = k / (k + 1)`` for one optimizer group's phases: 1 unless the
    group has an every-``k``-steps phase (``k > 1``) besides a phase that runs more often. A
    ``replaces`` phase adds no update (it runs instead of another) and is left out."""
    phases = [ph for ph in phases if not ph.replaces]
    lazy = {ph.interval for ph in phases if ph.interval > 1}
    if not lazy or min(ph.interval for ph in phases) == max(lazy):
        return 1.0
    if len(lazy) > 1:
        raise ValueError(f"phases {', '.join(ph.name for ph in phases)} share optimizer "
                         f"{phases[0].group!r} with different intervals {sorted(lazy)}; give "
                         f"each lazy phase of one optimizer the same interval")
    k = lazy.pop()
    return k / (k + 1)


class GANModel(nn.Module):
    Config: ClassVar[type[ModelConfig]] = ModelConfig
    data_kinds: ClassVar[tuple[str, ...]] = ("image",)
    needs_labels: ClassVar[bool] = False
    capabilities: ClassVar[frozenset[str]] = frozenset({"sample"})
    generator_nets: ClassVar[tuple[str, ...]] = ("G",)
    contract_overrides: ClassVar[dict[str, Any]] = {}
    # True when a loss takes gradients of gradients (gradient penalty, R1): torch.compile
    # cannot trace a double backward, so the trainer leaves such models uncompiled.
    double_backward: ClassVar[bool] = False
    # what ``d_real`` / ``d_fake`` in the logs are: "prob", "logit", "score" or None (see
    # D_OUTPUTS); observers call ``d_output_of(cfg)``, never guess from names or value ranges
    d_output: ClassVar[str | None] = None

    @classmethod
    def d_output_of(cls, cfg: Any) -> str | None:
        """What this model logs as ``d_real`` / ``d_fake`` with model config ``cfg`` (the
        dataclass or its dict, as in a run's config.yaml)."""
        return cls.d_output

    def __init__(self, cfg: ModelConfig, info: DataInfo):
        super().__init__()
        if info.kind not in self.data_kinds:
            raise DataError(f"model {cfg.name!r} trains on {' or '.join(self.data_kinds)} data, "
                            f"but the dataset is of kind {info.kind!r}")
        if self.needs_labels and info.num_classes < 2:
            raise DataError(f"model {cfg.name!r} is class-conditional and needs a labelled "
                            f"dataset (data.labels=true on a dataset with classes)")
        self.cfg = cfg
        self.info = info
        self.nets = nn.ModuleDict()
        self.noise = NoiseSource(0)  # replaced by the trainer with the run's seeded source

    # ------------------------------------------------------------------ training
    def phases(self, train: TrainConfig) -> list[Phase]:
        """Default: the discriminator ``train.d_steps`` times, then the generator once."""
        return [Phase("D", ("D",), train.d_steps), Phase("G", ("G",), 1)]

    def make_optimizer(self, phase: Phase, params: list[nn.Parameter],
                       train: TrainConfig) -> torch.optim.Optimizer:
        """Default: Adam with lr_d for phases named D*, lr_g otherwise (TTUR)."""
        lr = train.lr_d if phase.group.startswith("D") else train.lr_g  # (its optimizer's name)
        return adam(params, lr, (train.beta1, train.beta2), eps=train.adam_eps)

    def loss(self, phase: str, batch: dict[str, torch.Tensor],
             nets: Mapping[str, nn.Module]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        raise NotImplementedError

    def after_step(self, phase: str) -> None:
        """Called after each optimizer step of ``phase`` (e.g. WGAN weight clipping)."""

    def lr_factor(self, step: int, total_steps: int) -> float:
        """Multiplier of every learning rate at ``step`` (e.g. CycleGAN's linear decay)."""
        return 1.0

    def on_step_start(self, step: int, images_seen: int) -> None:
        """Called before every training step (e.g. ProGAN growth and fade-in)."""

    def extra_state(self) -> dict[str, Any]:
        """Primitives to keep in checkpoints besides the weights (e.g. growth state)."""
        return {}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        pass

    # ------------------------------------------------------------------ sampling
    @property
    def latent_dim(self) -> int:
        return int(getattr(self.cfg, "z_dim", 0))

    def make_latents(self, seeds: list[int]) -> torch.Tensor:
        """One latent per seed; the same seed always gives the same latent."""
        if not self.latent_dim:
            raise ConfigError(f"model {self.cfg.name!r} has no latent space to sample")
        return torch.stack([torch.randn(self.latent_dim,
                                        generator=torch.Generator().manual_seed(int(s)))
                            for s in seeds])

    def sample_labels(self, seeds: list[int]) -> torch.Tensor | None:
        """Labels that go with ``seeds`` for conditional models (seed mod classes)."""
        if "conditional" not in self.capabilities:
            return None
        return torch.tensor([int(s) % self.info.num_classes for s in seeds])

    def generate(self, z: torch.Tensor, labels: torch.Tensor | None = None,
                 G: nn.Module | None = None, **options: Any) -> torch.Tensor:
        """Images in [-1, 1] (N x C x H x W) for latents ``z``; ``G`` defaults to nets['G']."""
        self.reject_options(options)
        G = self.nets["G"] if G is None else G
        return G(z) if labels is None else G(z, labels)

    def reject_options(self, options: Mapping[str, Any]) -> None:
        """Raise on generation options (psi, mix_z, noise, ...) a model does not take, so that
        `gankit sample --option psi=0.5` on a DCGAN is an error rather than silently ignored."""
        given = sorted(k for k, v in options.items() if v is not None)
        if given:
            raise ConfigError(
                f"model {self.cfg.name!r} takes no generation options, got {', '.join(given)}; "
                f"truncation (psi), style mixing and noise options are StyleGAN's "
                f"(`gankit sample RUN --option psi=0.7` on a stylegan run)")

    def preview(self, z: torch.Tensor | None, labels: torch.Tensor | None,
                batch: dict[str, torch.Tensor], gens: dict[str, nn.Module],
                chunk: int = 64) -> torch.Tensor | None:
        """The images of a training sample grid (N x C x H x W in [-1, 1]), or None.

        Default: ``generate`` on the run's fixed latents, with ``gens`` (the EMA generator nets
        when EMA is on). Image-to-image models override it to show input | output | target.
        """
        if z is None or self.info.kind == "points":
            return None
        device = next(iter(gens.values())).parameters().__next__().device
        out = []
        for i in range(0, z.shape[0], chunk):
            lab = None if labels is None else labels[i:i + chunk].to(device)
            out.append(self.generate(z[i:i + chunk].to(device), lab,
                                     G=gens.get("G")).float().cpu())
        return torch.cat(out)


D_OUTPUTS = {
    "prob": "probability that the input is real, in [0, 1] (bce: sigmoid of the logit; lsgan: "
            "its 0-1 coded score, whose optimum is the same p_data / (p_data + p_g))",
    "logit": "D's raw log-odds (non-saturating logistic loss)",
    "score": "an unbounded critic score (wasserstein, hinge): only differences mean something",
}


def cfg_value(cfg: Any, key: str, default: Any = None) -> Any:
    """``cfg.key`` of a config dataclass, or ``cfg[key]`` of its dict form."""
    if isinstance(cfg, Mapping):
        return cfg.get(key, default)
    return getattr(cfg, key, default)


def anneal_last(step: int, total_steps: int, fraction: float) -> float:
    """The one learning-rate schedule helper: a factor that stays 1 and then falls linearly to
    0 over the last ``fraction`` of ``total_steps`` (``fraction`` <= 0: always 1). The
    adversarial models' ``lr_decay`` is that fraction; pix2pix/CycleGAN's ``decay_start`` is
    ``1 - fraction`` (constant for the first ``decay_start`` of the run, as in the paper)."""
    if fraction <= 0:
        return 1.0
    return max(0.0, min(1.0, (total_steps - step) / (fraction * total_steps)))


def check_adam_betas(cfg: Any) -> None:
    """``model.adam_betas`` is [beta1, beta2] or [] (then ``train.beta1`` / ``train.beta2``)."""
    if cfg.adam_betas and len(cfg.adam_betas) != 2:
        raise ConfigError(f"model.adam_betas must be [beta1, beta2] or [], got {cfg.adam_betas}")


def model_adam(cfg: Any, phase: Phase, params: list[nn.Parameter],
               train: TrainConfig) -> torch.optim.Optimizer:
    """Adam with the model's own betas (Karras et al.: (0, 0.99)), or train.beta1/2 if empty."""
    lr = train.lr_d if phase.group.startswith("D") else train.lr_g  # (its optimizer's name)
    betas = tuple(cfg.adam_betas) if cfg.adam_betas else (train.beta1, train.beta2)
    return adam(params, lr, betas, eps=train.adam_eps)


def adam(params, lr: float, betas: tuple[float, float], **kw: Any) -> torch.optim.Optimizer:
    """Adam with the fused implementation where torch has one for the device (same maths).

    Measured on this project's 2-core CPU for DCGAN-64-sized parameters (3.5M): fused 14-17 ms
    per step, foreach 45-55 ms (`benchmarks/speed/RESULTS.md`).
    """
    params = list(params)
    try:
        return torch.optim.Adam(params, lr=lr, betas=betas, fused=True, **kw)
    except (RuntimeError, TypeError, ValueError):  # device/dtype without a fused kernel
        return torch.optim.Adam(params, lr=lr, betas=betas, foreach=True, **kw)


def build_model(cfg: ModelConfig, info: DataInfo) -> GANModel:
    from gankit.registry import MODELS

    return MODELS.get(cfg.name)(cfg, info)
