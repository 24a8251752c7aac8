"""ProGAN learning-rate probe at 4x4 on the real faces (no growth), 150 steps of batch 16.

Prints the mean/std of generated vs real 4x4 images every 30 steps. Used for the
"equalized learning rate moves slowly" note in RESULTS.md:

    GANKIT_DATA=... PYTHONPATH=src nice -n 10 python benchmarks/faces/lr_probe.py 1e-3
    GANKIT_DATA=... PYTHONPATH=src nice -n 10 python benchmarks/faces/lr_probe.py 5e-3
"""
import sys

import torch
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import data_root, load_faces
from gankit.config import TrainConfig
from gankit.data.base import DataInfo, NoiseSource
from gankit.models.progan import ProGAN, ProGANConfig
torch.set_num_threads(1)
faces = load_faces(data_root())[:2000].float() / 127.5 - 1
def trial(lr, steps=150, level_images=10**9, **kw):
    torch.manual_seed(0)
    m = ProGAN(ProGANConfig(z_dim=128, fmap_base=1024, fmap_max=64, stable_images=level_images, fade_images=768, **kw), DataInfo("image", 3, 64))
    m.noise = NoiseSource(0)
    tc = TrainConfig(lr_g=lr, lr_d=lr)
    phases = m.phases(tc)
    opts = {p.name: m.make_optimizer(p, [q for n in p.nets for q in m.nets[n].parameters()], tc) for p in phases}
    g = torch.Generator().manual_seed(0)
    for step in range(steps):
        m.on_step_start(step, step * 16)
        batch = {"real": faces[torch.randint(0, len(faces), (16,), generator=g)]}
        for p in phases:
            for n in m.nets: m.nets[n].requires_grad_(n in p.nets)
            loss, logs = m.loss(p.name, batch, m.nets)
            opts[p.name].zero_grad(); loss.backward(); opts[p.name].step()
        if step % 30 == 29 or step == steps - 1:
            with torch.no_grad():
                f = m.nets["G"](torch.randn(256, 128), m.level, m.alpha)
                r = m.reals_now(faces[:256])
            print(lr, kw, step, "fake mean/std %.2f %.2f real %.2f %.2f" % (f.mean(), f.std(), r.mean(), r.std()), {k: round(float(v), 2) for k, v in logs.items()}, flush=True)
trial(float(sys.argv[1]), **({} if len(sys.argv) < 3 else {"gp_weight": float(sys.argv[2])}))
