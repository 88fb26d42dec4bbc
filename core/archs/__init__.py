"""Architecture registry.

Every module in this package that defines a module-level ``ARCH`` is discovered; adding an
architecture is one new file and touches no list here.
"""

from __future__ import annotations

import functools

from .._discover import discover
from ._base import Architecture, Example, SRNet, StateDict

__all__ = ["Architecture", "Example", "SRNet", "StateDict", "all_architectures", "detect", "get"]


@functools.cache
def all_architectures() -> tuple[Architecture, ...]:
    """Every registered architecture, in detection order (``after`` respected)."""
    found = {arch.id: arch for arch in discover(__name__, __path__, "ARCH", Architecture)}
    return tuple(_order(found))


def get(arch_id: str) -> Architecture:
    for arch in all_architectures():
        if arch.id == arch_id:
            return arch
    raise KeyError(arch_id)


def detect(state_dict: StateDict) -> Architecture | None:
    """The first architecture whose detector accepts ``state_dict``, or None."""
    for arch in all_architectures():
        if arch.detect(state_dict):
            return arch
    return None


def _order(archs: dict[str, Architecture]) -> list[Architecture]:
    ordered: list[Architecture] = []
    visiting: set[str] = set()

    def visit(arch: Architecture) -> None:
        if arch in ordered:
            return
        if arch.id in visiting:
            raise RuntimeError(f"architecture order has a cycle through {arch.id}")
        visiting.add(arch.id)
        for earlier in arch.after:
            if earlier in archs:
                visit(archs[earlier])
        ordered.append(arch)

    for arch in archs.values():
        visit(arch)
    return ordered
