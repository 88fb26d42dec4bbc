"""The networks as their authors wrote them: none of uprez's reformulations, for a while.

uprez changes how some blocks compute inside the modules themselves, so ``model.net(x)`` gets
them too: per-block CPU tiles (_staged), Winograd dense blocks (CPU fp32), one-pass epilogues
and grouped dense blocks (CUDA). Baselines, FLOP counts and equality tests need the network
as written; this is the one switch for all of them.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

from . import _cuda_epilogue, _rrdb_winograd, _staged


@contextlib.contextmanager
def as_written() -> Iterator[None]:
    """Inside the ``with`` block every network runs as written (in every thread)."""
    before = (_staged.CPU_TILES_ABOVE, _rrdb_winograd.ENABLED, _cuda_epilogue.ENABLED)
    _staged.CPU_TILES_ABOVE, _rrdb_winograd.ENABLED, _cuda_epilogue.ENABLED = sys.maxsize, False, False
    try:
        yield
    finally:
        _staged.CPU_TILES_ABOVE, _rrdb_winograd.ENABLED, _cuda_epilogue.ENABLED = before
