"""Real photographs for the benchmarks, cut to the sizes the issues name.

They come from Debian's ``mate-backgrounds`` package (nature photographs, GPL-2+), fetched
with ``apt-get download`` into ``.bench-cache/`` on first use and never committed.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from PIL import Image

CACHE = Path(__file__).resolve().parent.parent / ".bench-cache"
PACKAGE = "mate-backgrounds"
NATURE = "usr/share/backgrounds/mate/nature"
# name: (source photo, (width, height)); crops are taken from the photo's centre. A size larger
# than its source (6000x4000: no photo in the package is that large) is cut from the photo
# enlarged with Lanczos just enough to cover it.
CROPS = {
    "photo-256": ("TwoWings.jpg", (256, 256)),
    "photo-640x480": ("LadyBird.jpg", (640, 480)),
    "photo-2000x1500": ("Wood.jpg", (2000, 1500)),
    "photo-512-a": ("Garden.jpg", (512, 512)),
    "photo-512-b": ("YellowFlower.jpg", (512, 512)),
    "photo-192-c": ("Storm.jpg", (192, 192)),
    "photo-1024": ("Wood.jpg", (1024, 1024)),
    "photo-6000x4000": ("Wood.jpg", (6000, 4000)),
}


def _extracted() -> Path:
    root = CACHE / PACKAGE
    if (root / NATURE).is_dir():
        return root
    CACHE.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir=CACHE) as scratch:
        subprocess.run(["apt-get", "download", PACKAGE], cwd=scratch, check=True, capture_output=True)
        deb = next(Path(scratch).glob("*.deb"))
        subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
    return root


def photo(name: str) -> Path:
    """Path of a benchmark photo, cutting it from its source the first time."""
    source_name, (width, height) = CROPS[name]
    target = CACHE / "photos" / f"{name}.png"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        with Image.open(_extracted() / NATURE / source_name) as opened:
            source = opened.convert("RGB")
        enlarge = max(1.0, width / source.width, height / source.height)
        if enlarge > 1:
            size = (round(source.width * enlarge), round(source.height * enlarge))
            source = source.resize(size, Image.LANCZOS)
        left, top = (source.width - width) // 2, (source.height - height) // 2
        source.crop((left, top, left + width, top + height)).save(target)
    return target
