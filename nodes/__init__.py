"""ComfyUI nodes over the uprez core. Each module here that defines ``NODE`` is one node.

They need nothing beyond torch and the core to import; ComfyUI's services (progress bar,
interrupt, model folders, memory management) are used when ComfyUI is there.
"""

from __future__ import annotations

from ..core._discover import discover

_NODES = discover(__name__, __path__, "NODE", type)
NODE_CLASS_MAPPINGS: dict[str, type] = {node.__name__: node for node in _NODES}
NODE_DISPLAY_NAME_MAPPINGS: dict[str, str] = {node.__name__: node.DISPLAY_NAME for node in _NODES}

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS"]
