"""Animated GIFs from frames with Pillow."""
from __future__ import annotations

from pathlib import Path

import torch

from gankit.errors import GankitError
from gankit.utils.io import atomic_write


def gif_frames(frames: torch.Tensor, scale: int = 1):
    """PIL images (mode L or RGB) for frames N x C x H x W (float in [-1, 1] or uint8),
    enlarged ``scale`` times with nearest-neighbour (small GAN images are tiny on screen)."""
    from PIL import Image

    from gankit.data.base import to_uint8

    if frames.dim() != 4 or frames.shape[1] not in (1, 3):
        raise GankitError(f"GIF frames must be N x 1|3 x H x W, got {tuple(frames.shape)}")
    u8 = frames if frames.dtype == torch.uint8 else to_uint8(frames)
    arr = u8.cpu().permute(0, 2, 3, 1).numpy()
    out = []
    for a in arr:
        im = Image.fromarray(a[:, :, 0] if a.shape[2] == 1 else a)
        if scale > 1:
            im = im.resize((im.width * scale, im.height * scale), Image.NEAREST)
        out.append(im)
    return out


def save_gif(frames: torch.Tensor, path: str | Path, fps: float = 12, *, loop: int = 0,
             boomerang: bool = False, scale: int = 1) -> Path:
    """Write ``frames`` as an animated GIF at ``fps`` frames per second (atomically).

    ``loop=0`` repeats forever; ``boomerang`` plays forward then backward, so a loop has no
    jump back to the first frame. GIF timing is in hundredths of a second, so fps is rounded
    to the nearest frame duration of 10 ms.
    """
    data = gif_bytes(frames, fps, loop=loop, boomerang=boomerang, scale=scale)
    return atomic_write(path, lambda f: f.write(data))


def gif_bytes(frames: torch.Tensor, fps: float = 12, *, loop: int = 0,
              boomerang: bool = False, scale: int = 1) -> bytes:
    """The GIF of :func:`save_gif` as bytes (e.g. for a web response)."""
    import io

    if fps <= 0:
        raise GankitError(f"--fps must be > 0, got {fps}")
    images = gif_frames(frames, scale)
    if not images:
        raise GankitError("no frames to write")
    if boomerang and len(images) > 2:
        images = images + images[-2:0:-1]
    buf = io.BytesIO()
    _write_gif(buf, images, fps, loop)
    return buf.getvalue()


def _write_gif(f, images, fps: float, loop: int) -> None:
    duration = max(10, int(round(100.0 / fps)) * 10)
    # optimize=False: Pillow's optimiser can merge identical frames and change timing
    images[0].save(f, format="GIF", save_all=True, append_images=images[1:],
                   duration=duration, loop=loop, optimize=False, disposal=1)
