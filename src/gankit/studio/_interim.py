"""Stand-ins used only while gankit.sampling's latent tools are not in this checkout.

Delete this module once ``gankit.sampling.interpolate``, ``.editing`` and ``.projection``
exist: :mod:`gankit.studio.ops` then calls those and never imports this file.
"""
from __future__ import annotations

import torch


def _generate(gen, z: torch.Tensor, labels) -> torch.Tensor:
    with torch.no_grad():
        lab = None if labels is None else labels.to(gen.device)
        return gen.model.generate(z.to(gen.device), lab, G=gen.G).float().cpu()


def interpolate_at(gen, seeds, t, mode="slerp", *, class_id=None, **options):
    z = gen.latents(seeds).cpu().double()
    a, b = z[0], z[1]
    if mode == "lerp":
        p = (1 - t) * a + t * b
    else:  # slerp on the directions, lerp of the norms
        na, nb = a.norm(), b.norm()
        cos = torch.clamp((a / na) @ (b / nb), -1.0, 1.0)
        omega = torch.arccos(cos)
        if omega < 1e-6:
            p = (1 - t) * a + t * b
        else:
            u = (torch.sin((1 - t) * omega) * a / na
                 + torch.sin(t * omega) * b / nb) / torch.sin(omega)
            p = u * ((1 - t) * na + t * nb)
    return _generate(gen, p.float().unsqueeze(0), gen.labels_for(seeds[:1], class_id))


def walk(gen, seeds, direction, strengths, *, class_id=None, **options):
    d = torch.as_tensor(direction).float().reshape(-1)
    d = d / d.norm()
    z = gen.latents(seeds).cpu() + float(strengths[0]) * d
    return _generate(gen, z, gen.labels_for(seeds, class_id)), 1


def project(gen, x, steps=100, class_id=None):
    from types import SimpleNamespace

    z = gen.latents([0]).cpu().clone().requires_grad_(True)
    labels = gen.labels_for([0], class_id)
    opt = torch.optim.Adam([z], lr=0.05)
    for _ in range(steps):
        img = gen.model.generate(z.to(gen.device), labels, G=gen.G).float().cpu()
        loss = torch.nn.functional.mse_loss(img, x)
        opt.zero_grad()
        loss.backward()
        opt.step()
    img = _generate(gen, z.detach(), labels)
    return SimpleNamespace(image=img, z=z.detach(), final_mse=float(((img - x) ** 2).mean()))
