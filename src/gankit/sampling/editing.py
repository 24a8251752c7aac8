r"""Controllable generation: find a direction in z for an attribute and walk along it.

Two ways to find a direction :math:`d` (a unit vector in z-space):

1. **From labelled latents** (InterFaceGAN-style, Shen et al. 2020). Generate images for many
   latents :math:`z_i`, score them with a classifier :math:`f` (any callable image -> score), or
   bring latents with labels :math:`y_i \in \{0, 1\}` of your own. Then either

   * difference of class means: :math:`d \propto \bar z_{y=1} - \bar z_{y=0}`, or
   * the normal of a logistic-regression boundary
     :math:`p(y=1 \mid z) = \sigma(w^\top z + b)`, fitted with L2 penalty
     :math:`\lambda \lVert w\rVert^2`: :math:`d = w / \lVert w\rVert`.

   Continuous scores are split at their median into the two classes.

2. **From a classifier's gradient** (the controllable-generation lesson of the Coursera GAN
   specialisation): gradient ascent in z on the target score,

   .. math:: z \leftarrow z + \eta\, \frac{g}{\lVert g\rVert}, \qquad
      g = \nabla_z \Big[\frac{f_a(G(z))}{s_a}
          - \lambda \sum_{k \in H} \Big(\frac{f_k(G(z)) - f_k(G(z_0))}{s_k}\Big)^2\Big]

   where :math:`H` are the attributes to hold fixed (their change is penalised, so the edit
   does not drag correlated attributes along) and :math:`s_k` is the spread (std) of score
   :math:`k` over the batch at the start, so :math:`\lambda` does not depend on the scores'
   units. The per-sample edits can be used directly
   (:func:`gradient_edit`), or averaged into one direction :math:`d \propto \overline{z_T - z_0}`
   (:func:`direction_from_classifier`).

Holding attributes fixed with directions: :func:`orthogonalize` removes from :math:`d` its
components along other attribute directions (conditional manipulation, InterFaceGAN §2.2).

Walking: image :math:`(i, j)` of :func:`walk` is :math:`G(z_i + s_j d)` with :math:`d` of unit
norm, so strengths are in units of one standard deviation of the prior.
"""
from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gankit.errors import GankitError
from gankit.sampling._common import check_latents, generate_z, image_model, labels_like

Classifier = Callable[[torch.Tensor], torch.Tensor]
METHODS = ("mean", "logistic")


# ---------------------------------------------------------------------- classifiers
def brightness(images: torch.Tensor) -> torch.Tensor:
    """Mean pixel value per image (N,): a toy attribute, handy for tests and demos."""
    return images.flatten(1).mean(1)


BUILTIN_CLASSIFIERS: dict[str, Classifier] = {"brightness": brightness}


def load_classifier(spec: str) -> Classifier:
    """A classifier from ``brightness`` (built in), ``package.module:name`` or
    ``path/to/file.py:name``; ``name`` is a callable images -> scores (N or N x K), e.g. a
    torch module (put in eval mode) or a function."""
    if spec in BUILTIN_CLASSIFIERS:
        return BUILTIN_CLASSIFIERS[spec]
    mod_name, sep, attr = spec.rpartition(":")
    if not sep or not mod_name or not attr:
        raise GankitError(f"classifier {spec!r}: write a built-in name "
                          f"({', '.join(BUILTIN_CLASSIFIERS)}), module:name or file.py:name")
    try:
        if mod_name.endswith(".py"):
            path = Path(mod_name)
            if not path.is_file():
                raise GankitError(f"classifier file {path} does not exist")
            s = importlib.util.spec_from_file_location(f"_gankit_clf_{path.stem}", path)
            module = importlib.util.module_from_spec(s)
            s.loader.exec_module(module)
        else:
            module = importlib.import_module(mod_name)
    except ImportError as e:
        raise GankitError(f"cannot import classifier module {mod_name!r} ({e})") from None
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise GankitError(f"{mod_name} has no callable {attr!r}")
    if isinstance(fn, torch.nn.Module):
        fn.eval()
    return fn


def _column(scores: torch.Tensor, attribute: int) -> torch.Tensor:
    if scores.dim() == 1:
        if attribute != 0:
            raise GankitError(f"the classifier gives one score per image; attribute "
                              f"{attribute} does not exist")
        return scores
    if scores.dim() != 2 or not 0 <= attribute < scores.shape[1]:
        raise GankitError(f"classifier scores of shape {tuple(scores.shape)} have no "
                          f"attribute {attribute} (expected N or N x K scores)")
    return scores[:, attribute]


def score_latents(gen, z: torch.Tensor, classifier: Classifier, *, labels=None,
                  batch_size: int = 64, **options: Any) -> torch.Tensor:
    """Classifier scores (N or N x K, on the CPU) of the images generated from ``z``."""
    out = []
    with torch.no_grad():
        for i in range(0, z.shape[0], batch_size):
            lab = None if labels is None else labels[i:i + batch_size]
            x = generate_z(gen, z[i:i + batch_size], lab, **options).to(gen.device)
            out.append(torch.as_tensor(classifier(x)).float().cpu())
    return torch.cat(out)


def sample_and_score(gen, seeds: list[int], classifier: Classifier, *,
                     class_id: int | None = None, **options: Any
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """(z, scores) for ``seeds``: the labelled latents that :func:`direction_from_labels` fits."""
    image_model(gen, "scoring samples")
    z = gen.latents(seeds).cpu()
    lab = gen.labels_for(seeds, class_id)
    return z, score_latents(gen, z, classifier, labels=lab, **options)


# ---------------------------------------------------------------------- directions
def _unit(d: torch.Tensor) -> torch.Tensor:
    n = d.norm()
    if not torch.isfinite(n) or n < 1e-12:
        raise GankitError("the direction is zero: the attribute does not vary with z in these "
                          "samples (use more samples, or another classifier)")
    return d / n


def binarize(labels: torch.Tensor, threshold: float | None = None) -> torch.Tensor:
    """Labels as 0/1: binary labels stay; scores are split at ``threshold`` (default median)."""
    y = torch.as_tensor(labels).float().reshape(-1)
    if torch.all((y == 0) | (y == 1)) and threshold is None:
        return y
    t = float(y.median()) if threshold is None else float(threshold)
    return (y > t).float()


def direction_from_labels(z: torch.Tensor, labels: torch.Tensor, method: str = "mean", *,
                          threshold: float | None = None, l2: float = 1e-2,
                          steps: int = 100) -> torch.Tensor:
    """Unit direction (D,) in z separating ``labels`` (0/1, or scores split at the median).

    ``mean``: difference of the class means; ``logistic``: normal of an L2-regularised
    logistic-regression boundary (fitted with L-BFGS in float64).
    """
    if method not in METHODS:
        raise GankitError(f"direction method must be one of {', '.join(METHODS)}, not {method!r}")
    z = torch.as_tensor(z).double().reshape(len(z), -1)
    y = binarize(labels, threshold).double()
    if y.numel() != z.shape[0]:
        raise GankitError(f"{z.shape[0]} latents but {y.numel()} labels")
    n_pos = int(y.sum())
    if n_pos == 0 or n_pos == len(y):
        raise GankitError("all samples fall in one class: a direction needs both (use more "
                          "samples or another threshold)")
    if method == "mean":
        return _unit(z[y == 1].mean(0) - z[y == 0].mean(0)).float()
    w = torch.zeros(z.shape[1] + 1, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([w], lr=1.0, max_iter=steps, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        logits = z @ w[:-1] + w[-1]
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, y) \
            + l2 * (w[:-1] ** 2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return _unit(w.detach()[:-1]).float()


def orthogonalize(direction: torch.Tensor, others: Sequence[torch.Tensor]) -> torch.Tensor:
    """``direction`` minus its projection on the span of ``others``, renormalised: moving along
    it leaves the attributes of the other (linear) directions unchanged."""
    d = torch.as_tensor(direction).double().reshape(-1)
    if not others:
        return _unit(d).float()
    basis = torch.stack([torch.as_tensor(o).double().reshape(-1) for o in others], 1)
    if basis.shape[0] != d.shape[0]:
        raise GankitError(f"directions of different sizes: {d.shape[0]} and {basis.shape[0]}")
    q, _ = torch.linalg.qr(basis)
    d = d - q @ (q.T @ d)
    if d.norm() < 1e-6:
        raise GankitError("the direction lies in the span of the directions to hold fixed; "
                          "nothing is left after orthogonalising")
    return _unit(d).float()


def gradient_edit(gen, classifier: Classifier, z: torch.Tensor, attribute: int = 0, *,
                  steps: int = 10, lr: float = 0.2, hold: Sequence[int] = (),
                  hold_weight: float = 1.0, labels=None, sign: float = 1.0,
                  **options: Any) -> torch.Tensor:
    """Latents after ``steps`` of normalised gradient ascent on the ``attribute`` score
    (descent with ``sign=-1``), penalising changes of the ``hold`` attributes (see the module
    docstring). Returns the edited latents (N x D, CPU). The classifier must be differentiable.
    """
    image_model(gen, "gradient editing")
    z0 = check_latents(gen, torch.as_tensor(z).float()).detach().to(gen.device)
    lab = None if labels is None else torch.as_tensor(labels).to(gen.device)
    hold = [int(h) for h in hold]
    if attribute in hold:
        raise GankitError(f"attribute {attribute} cannot be both edited and held fixed")
    ref = None
    # scores are measured in units of their spread over the batch at the start, so that
    # hold_weight means the same for a logit and for a mean brightness
    t_scale, h_scale = 1.0, 1.0
    with torch.no_grad():
        s0 = classifier(generate_z(gen, z0, lab, grad=True, **options))
        if z0.shape[0] > 1:
            t_scale = float(_column(s0, attribute).std().clamp_min(1e-6))
        if hold:
            ref = torch.stack([_column(s0, h) for h in hold], 1)
            if z0.shape[0] > 1:
                h_scale = ref.std(0, keepdim=True).clamp_min(1e-6)
    zc = z0.clone()
    for _ in range(steps):
        zc.requires_grad_(True)
        with torch.enable_grad():
            scores = classifier(generate_z(gen, zc, lab, grad=True, **options))
            obj = sign * _column(scores, attribute).sum() / t_scale
            if hold:
                now = torch.stack([_column(scores, h) for h in hold], 1)
                obj = obj - hold_weight * (((now - ref) / h_scale) ** 2).sum()
            (g,) = torch.autograd.grad(obj, zc)
        g = g / g.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, *([1] * (g.dim() - 1)))
        zc = (zc.detach() + lr * g).detach()
    return zc.cpu()


def direction_from_classifier(gen, classifier: Classifier, z: torch.Tensor,
                              attribute: int = 0, **kw: Any) -> torch.Tensor:
    """Unit direction (D,): the mean displacement of :func:`gradient_edit` over ``z``."""
    z = torch.as_tensor(z).float()
    return _unit((gradient_edit(gen, classifier, z, attribute, **kw) - z).mean(0).double()
                 ).float()


# ---------------------------------------------------------------------- walking
def edit_latents(z: torch.Tensor, direction: torch.Tensor,
                 strengths: Sequence[float]) -> torch.Tensor:
    """(N * S) x D latents, row-major: latent i moved by each strength along unit ``direction``."""
    d = _unit(torch.as_tensor(direction).double().reshape(-1)).float()
    if d.shape[0] != z.shape[1]:
        raise GankitError(f"the direction has {d.shape[0]} dimensions but the latents have "
                          f"{z.shape[1]}; it was made for another model")
    s = torch.as_tensor(list(strengths), dtype=z.dtype)
    return (z.unsqueeze(1) + s.view(1, -1, 1) * d.view(1, 1, -1)).reshape(-1, z.shape[1])


def walk(gen, seeds: list[int], direction, strengths: Sequence[float], *,
         class_id: int | None = None, **options: Any) -> tuple[torch.Tensor, int]:
    """Images of each seed moved along ``direction`` by each strength: rows are seeds,
    columns strengths; returns ((N * S) x C x H x W in [-1, 1], S)."""
    image_model(gen, "latent editing")
    labels = gen.labels_for(seeds, class_id)
    return walk_latents(gen, gen.latents(seeds).cpu(), direction, strengths, labels=labels,
                        **options)


def walk_latents(gen, z: torch.Tensor, direction, strengths: Sequence[float], *,
                 labels=None, class_id: int | None = None,
                 **options: Any) -> tuple[torch.Tensor, int]:
    """:func:`walk` from explicit latents ``z`` (N x D), e.g. those of a projected image."""
    image_model(gen, "latent editing")
    if not len(strengths):
        raise GankitError("give at least one strength, e.g. --strengths -3,0,3")
    z = torch.as_tensor(z).float()
    z = check_latents(gen, z.unsqueeze(0) if z.dim() == 1 else z)
    zs = edit_latents(z, torch.as_tensor(direction), strengths)
    lab = labels_like(gen, z.shape[0], labels, class_id)
    if lab is not None:
        lab = lab.cpu().repeat_interleave(len(strengths))
    return generate_z(gen, zs, lab, **options), len(strengths)


# ---------------------------------------------------------------------- files
def save_direction(path: str | Path, direction: torch.Tensor) -> Path:
    """Save a unit direction as a float32 ``.npy`` vector."""
    from gankit.utils.io import atomic_write

    d = _unit(torch.as_tensor(direction).double().reshape(-1)).float().numpy()
    return atomic_write(path, lambda f: np.save(f, d))


def load_direction(path: str | Path, latent_dim: int | None = None) -> torch.Tensor:
    path = Path(path)
    if not path.is_file():
        raise GankitError(f"direction file {path} does not exist; make one with "
                          f"`gankit direction`")
    try:
        d = torch.from_numpy(np.load(path, allow_pickle=False)).float().reshape(-1)
    except (ValueError, OSError) as e:
        raise GankitError(f"{path} is not a .npy vector ({e})") from None
    if latent_dim is not None and d.numel() != latent_dim:
        raise GankitError(f"{path} holds a {d.numel()}-d direction but the model's z has "
                          f"{latent_dim} dimensions; it was made for another model")
    return _unit(d.double()).float()


def load_labelled_latents(path: str | Path) -> tuple[torch.Tensor, torch.Tensor]:
    """(z, labels) from an npz with ``z`` (or ``latents``) N x D and ``labels`` (or
    ``scores``) N: latents a user labelled themselves."""
    path = Path(path)
    if not path.is_file():
        raise GankitError(f"{path} does not exist")
    with np.load(path, allow_pickle=False) as f:
        zk = next((k for k in ("z", "latents") if k in f), None)
        yk = next((k for k in ("labels", "scores") if k in f), None)
        if zk is None or yk is None:
            raise GankitError(f"{path} must hold arrays `z` (N x D) and `labels` (N), has "
                              f"{', '.join(f.files)}")
        z, y = torch.from_numpy(f[zk]).float(), torch.from_numpy(f[yk]).float()
    if z.dim() != 2 or y.reshape(-1).numel() != z.shape[0]:
        raise GankitError(f"{path}: z must be N x D and labels N, got {tuple(z.shape)} and "
                          f"{tuple(y.shape)}")
    return z, y.reshape(-1)
