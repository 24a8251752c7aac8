"""Write a folder of 'arbitrary user images' for the `gankit translate` check.

    python benchmarks/translation/make_user_images.py OUT_FOLDER

odd sizes, greyscale, RGBA with transparency, a palette GIF, a 16-bit PNG, one corrupt JPEG
and one non-image file. Made from MNIST digits (from $GANKIT_DATA) so a digits model has
something meaningful to translate.
"""
import gzip
import os
import sys
from pathlib import Path

import numpy as np
from PIL import Image

out = Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)
root = Path(os.environ.get("GANKIT_DATA", "/work/shared/data"))
x = np.frombuffer(gzip.open(root / "mnist/t10k-images-idx3-ubyte.gz").read(), np.uint8,
                  offset=16).reshape(-1, 28, 28)
big = lambda i, w, h: Image.fromarray(x[i]).resize((w, h), Image.BICUBIC)  # noqa: E731
big(0, 45, 37).convert("RGB").save(out / "odd_size_rgb.jpg", quality=92)       # 45 x 37 RGB
big(1, 100, 100).save(out / "grey.png")                                          # L
rgba = big(2, 64, 48).convert("RGBA")
a = np.array(rgba)
a[:, :16, 3] = 0                                                                 # transparent strip
Image.fromarray(a, "RGBA").save(out / "transparent.png")
big(3, 33, 33).convert("P").save(out / "palette.gif")
Image.fromarray((np.array(big(4, 40, 30)).astype(np.uint16) * 257)).save(out / "sixteen_bit.png")
(out / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0\x00\x10JFIF" + b"\x00" * 40)  # truncated
(out / "notes.txt").write_text("not an image\n")
print(sorted(p.name for p in out.iterdir()))
