"""gankit interpolate SOURCE --seeds 3,17 --steps 8 --mode slerp --out strip.png [--gif a.gif]"""
from __future__ import annotations


NAME = "interpolate"
HELP = "interpolate in latent space between seeds (PNG strip and/or animated GIF)"


def add_arguments(p) -> None:
    p.add_argument("source", help="run directory, export folder or checkpoint file")
    p.add_argument("--seeds", default="0,1", help="seeds to pass through in order, e.g. 3,17,42")
    p.add_argument("--steps", type=int, default=8,
                   help="frames per pair of seeds, both ends included (default 8)")
    p.add_argument("--mode", choices=("lerp", "slerp"), default="slerp",
                   help="linear or spherical interpolation (default slerp)")
    p.add_argument("--out", help="PNG strip to write (default: <source>/interpolation.png "
                                 "unless only --gif is given)")
    p.add_argument("--nrow", type=int, help="frames per strip row (default: all in one row "
                                            "up to 24 frames, else --steps)")
    p.add_argument("--gif", help="also write an animated GIF here")
    p.add_argument("--fps", type=float, default=12, help="GIF frames per second (default 12)")
    p.add_argument("--boomerang", action="store_true", help="GIF plays forward then back")
    p.add_argument("--scale", type=int, default=1, help="enlarge GIF frames N times")
    p.add_argument("--class", dest="class_id", type=int,
                   help="class of every frame (conditional models; default the first seed's)")
    from gankit.commands.sample import add_generation_options

    add_generation_options(p)
    p.add_argument("--force", action="store_true", help="write a strip of more than 1024 frames")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")


def run(args) -> int:
    from gankit.commands.sample import check_grid_size, generation_options, output_path
    from gankit.sampling import load_generator
    from gankit.sampling.gif import save_gif
    from gankit.sampling.interpolate import interpolate
    from gankit.utils.images import save_grid
    from gankit.utils.seeds import parse_seeds

    gen = load_generator(args.source, args.device)
    seeds = parse_seeds(args.seeds)
    check_grid_size(max(0, len(seeds) - 1) * args.steps, args.force)
    frames = interpolate(gen, seeds, args.steps, args.mode, class_id=args.class_id,
                         **generation_options(args))
    out = None
    if args.out or not args.gif:
        out = output_path(args.source, args.out, "interpolation.png")
    n = frames.shape[0]
    if out:
        save_grid(frames, out, nrow=args.nrow or (n if n <= 24 else args.steps))
        print(f"wrote {n} frames ({args.mode}, seeds {','.join(map(str, seeds))}) to {out}")
    if args.gif:
        save_gif(frames, args.gif, args.fps, boomerang=args.boomerang, scale=args.scale)
        print(f"wrote a {n}-frame GIF at {args.fps:g} fps to {args.gif}")
    return 0
