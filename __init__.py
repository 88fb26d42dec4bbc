"""uprez: AI image upscaling with the classic open-source super-resolution models.

This module stays import-safe: importing ``uprez`` loads neither torch nor anything of
ComfyUI, because pytest, ``install.py`` and ComfyUI all import it. The engine lives in
``uprez.core``.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]

# The repository is also a ComfyUI custom-node folder. ComfyUI asks this module for its node
# mappings; they load (with torch) only when asked, so `import uprez` stays light.
_COMFYUI_EXPORTS = ("NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS")


def __getattr__(name: str):  # noqa: ANN202 - PEP 562 module attribute hook
    if name in _COMFYUI_EXPORTS:
        from . import nodes

        return getattr(nodes, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
