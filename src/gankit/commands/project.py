"""gankit project SOURCE image.png --steps 300 --out projected.png --save-latent z.npy"""
from __future__ import annotations

from pathlib import Path

NAME = "project"
HELP = "find the latent of a real image by optimisation (to edit your own images)"


def add_arguments(p) -> None:
    p.add_argument("source", help="run directory, export folder or checkpoint file")
    p.add_argument("image", help="image file (any size; centre-cropped and resized)")
    p.add_argument("--steps", type=int, default=300, help="optimisation steps (default 300)")
    p.add_argument("--lr", type=float, default=0.05, help="Adam learning rate on z")
    p.add_argument("--feature-weight", type=float, default=0.0,
                   help="weight of the feature loss (fixed random conv features; 0 = off)")
    p.add_argument("--prior-weight", type=float, default=1e-3,
                   help="weight keeping |z| near sqrt(z_dim)")
    p.add_argument("--init", type=int, default=16, help="random starts tried (best kept)")
    p.add_argument("--class", dest="class_id", type=int,
                   help="class (conditional models; default: the best-fitting class)")
    p.add_argument("--out", help="reconstruction image (default: <image>-projected.png)")
    p.add_argument("--compare", help="also write target | reconstruction side by side")
    p.add_argument("--save-latent", help=".npy for the latent (1 x z_dim), for `gankit edit "
                                         "--latents`")
    p.add_argument("--seed", type=int, default=0, help="seed of the starts and noise")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")


def run(args) -> int:
    import numpy as np
    import torch

    from gankit.sampling import load_generator
    from gankit.sampling.projection import load_image, project
    from gankit.utils.images import save_grid, save_image
    from gankit.utils.io import atomic_write

    gen = load_generator(args.source, args.device)
    target = load_image(args.image, gen.info.channels, gen.info.resolution)
    res = project(gen, target, args.steps, args.lr, feature_weight=args.feature_weight,
                  prior_weight=args.prior_weight, n_init=args.init, init_seed=args.seed,
                  seed=args.seed, class_id=args.class_id)
    img = Path(args.image)
    out = Path(args.out) if args.out else img.with_name(f"{img.stem}-projected.png")
    save_image(res.image[0], out)
    msg = (f"projected {img.name} in {args.steps} steps: pixel MSE {res.initial_mse:.4f} "
           f"(start) -> {res.final_mse:.4f}; reconstruction in {out}")
    if res.labels is not None:
        msg += f"; class {int(res.labels[0])}"
    print(msg)
    if args.compare:
        save_grid(torch.cat([target, res.image]), args.compare, nrow=2)
        print(f"target | reconstruction in {args.compare}")
    if args.save_latent:
        atomic_write(args.save_latent, lambda f: np.save(f, res.z.numpy().astype(np.float32)))
        print(f"latent in {args.save_latent}")
    return 0
