"""Finding the plug-in modules of a package: one file per concept, no central list."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterable
from typing import TypeVar

T = TypeVar("T")


def discover(package: str, path: Iterable[str], attribute: str, kind: type[T]) -> list[T]:
    """The ``attribute`` of every public module in ``package`` whose value is a ``kind``, by module name."""
    found = []
    for info in sorted(pkgutil.iter_modules(path), key=lambda i: i.name):
        if not info.name.startswith("_"):
            value = getattr(importlib.import_module(f"{package}.{info.name}"), attribute, None)
            if isinstance(value, kind):
                found.append(value)
    return found
