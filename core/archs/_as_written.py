"""The networks as their authors wrote them: none of uprez's reformulations, for a while.

uprez changes how some blocks compute inside the modules themselves, so ``model.net(x)`` gets
them too: per-block CPU tiles (_staged), Winograd dense blocks and SRVGGNetCompact's C kernel
(CPU fp32), one-pass epilogues and grouped dense blocks (CUDA). Baselines, FLOP counts and
equality tests need the network as written; this is the one switch for all of them.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

from . import _cuda_epilogue, _rrdb_winograd, _srvgg_winograd, _staged


@contextlib.contextmanager
def as_written() -> Iterator[None]:
    """Inside the ``with`` block every network runs as written (in every thread)."""
    switches = (_rrdb_winograd, _srvgg_winograd, _cuda_epilogue)
    before = (_staged.CPU_TILES_ABOVE, *(switch.ENABLED for switch in switches))
    _staged.CPU_TILES_ABOVE = sys.maxsize
    for switch in switches:
        switch.ENABLED = False
    try:
        yield
    finally:
        _staged.CPU_TILES_ABOVE = before[0]
        for switch, enabled in zip(switches, before[1:], strict=True):
            switch.ENABLED = enabled
