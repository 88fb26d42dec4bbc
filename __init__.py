"""uprez: AI image upscaling with the classic open-source super-resolution models.

This module stays import-safe: importing ``uprez`` loads neither torch nor anything of
ComfyUI, because pytest, ``install.py`` and ComfyUI all import it. The engine lives in
``uprez.core``.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
