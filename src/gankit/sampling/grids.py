"""Grids that compare along one axis: classes, truncation strengths, style mixing.

Every function returns the images in row-major order together with the number of images per
row, so ``gankit.utils.images.save_grid(images, path, nrow=ncol)`` draws the intended table.
"""
from __future__ import annotations

from typing import Any

import torch

from gankit.errors import GankitError
from gankit.sampling._common import generate_z, image_model, labels_like, require


def png_bytes(images: torch.Tensor, nrow: int | None = None) -> bytes:
    """Images (N x C x H x W in [-1, 1]) tiled ``nrow`` per row, as PNG bytes (for a web page)."""
    import io

    from gankit.utils.images import array_to_pil, make_grid

    buf = io.BytesIO()
    array_to_pil(make_grid(images, nrow)).save(buf, format="PNG")
    return buf.getvalue()


def class_grid(gen, per_class: int = 8, *, seeds: list[int] | None = None,
               classes: list[int] | None = None, **options: Any) -> tuple[torch.Tensor, int]:
    """One row per class, ``per_class`` images each: ((K * per_class) x C x H x W, per_class).

    Column j uses the same latent (seed ``seeds[j]``, default ``0 .. per_class - 1``) in every
    row, so reading down a column shows what the class label alone changes.
    """
    image_model(gen, "a class grid")
    require(gen, "conditional", "a class grid (one row per class)",
            "use `gankit sample` for unconditional models")
    k = gen.info.num_classes
    classes = list(range(k)) if classes is None else [int(c) for c in classes]
    bad = [c for c in classes if not 0 <= c < k]
    if bad:
        raise GankitError(f"classes {bad} are out of range: this model has classes 0..{k - 1}")
    seeds = list(range(per_class)) if seeds is None else list(seeds)
    if not seeds or not classes:
        raise GankitError("a class grid needs at least one seed and one class")
    z = gen.latents(seeds).cpu().repeat(len(classes), 1)
    labels = torch.tensor(classes).repeat_interleave(len(seeds))
    return generate_z(gen, z, labels_like(gen, z.shape[0], labels), **options), len(seeds)


def class_names(gen) -> list[str]:
    """Row titles for a class grid: the data set's class names, else the class numbers."""
    names = list(gen.info.class_names or [])
    k = gen.info.num_classes
    return names if len(names) == k else [str(i) for i in range(k)]


def truncation_grid(gen, seeds: list[int], psis: list[float], *, class_id: int | None = None,
                    **options: Any) -> tuple[torch.Tensor, int]:
    r"""One row per truncation :math:`\psi` (``psi`` option), one column per seed.

    Truncation pulls the intermediate latent towards its mean,
    :math:`w' = \bar w + \psi (w - \bar w)`: :math:`\psi < 1` trades variety for quality.
    """
    image_model(gen, "a truncation grid")
    require(gen, "truncate", "truncation", "only models that keep a mean latent (stylegan) "
                                           "support psi")
    if not psis:
        raise GankitError("give at least one psi, e.g. --psi 1,0.7,0.5")
    z = gen.latents(seeds).cpu()
    lab = labels_like(gen, len(seeds), None, class_id, seed=seeds[0]) if class_id is not None \
        else (gen.labels_for(seeds) if "conditional" in gen.capabilities else None)
    rows = [generate_z(gen, z, lab, **{**options, "psi": float(p)}) for p in psis]
    return torch.cat(rows), len(seeds)


def mixing_grid(gen, row_seeds: list[int], col_seeds: list[int], *,
                mix_layers: tuple[int, int] | None = None, **options: Any
                ) -> tuple[torch.Tensor, int]:
    """Style-mixing table as in the StyleGAN paper, (R + 1) x (C + 1) cells, row-major.

    Top-left is blank (-1 = black), the first row holds the column sources ``G(col_z)``, the
    first column the row sources ``G(row_z)``; cell (r, c) takes its styles from ``row_z[r]``
    except the style inputs ``mix_layers = (start, stop)`` (model default: the fine half),
    which come from ``col_z[c]``. Uses the ``mix`` capability contract:
    ``generate(z, mix_z=..., mix_layers=(start, stop))``.
    """
    image_model(gen, "a style-mixing grid")
    require(gen, "mix", "style mixing", "only style-based generators (stylegan) mix styles")
    if not row_seeds or not col_seeds:
        raise GankitError("style mixing needs row seeds and column seeds")
    zr, zc = gen.latents(row_seeds).cpu(), gen.latents(col_seeds).cpu()
    r, c = len(row_seeds), len(col_seeds)
    col_img = generate_z(gen, zc, **options)
    row_img = generate_z(gen, zr, **options)
    mix_opts = dict(options, mix_z=None)
    mixed = []
    for i in range(r):
        mix_opts["mix_z"] = zc
        if mix_layers is not None:
            mix_opts["mix_layers"] = tuple(mix_layers)
        mixed.append(generate_z(gen, zr[i:i + 1].expand(c, -1), **mix_opts))
    blank = torch.full_like(col_img[:1], -1.0)
    cells = [blank, col_img]
    for i in range(r):
        cells += [row_img[i:i + 1], mixed[i]]
    return torch.cat(cells), c + 1
