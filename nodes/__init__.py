"""ComfyUI nodes over the uprez core (``uprez.nodes``).

Not built yet: the node classes arrive with the ComfyUI issue. Until then this package is
empty on purpose, and the repository root exports no ``NODE_CLASS_MAPPINGS``.
"""
