"""Writing each finished picture, in the background where that pays, and reporting how it went."""

from __future__ import annotations

import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from ..errors import UprezError
from ..imageio import Picture, write_image
from .report import Reporter, internal_error


@dataclass
class Tally:
    done: int = 0
    failed: int = 0


class Writes:
    """Writes finished pictures and reports each file's ``done`` or ``error``.

    In the background (one thread, at most one file pending), a file is encoded while the next
    one is upscaled: on a GPU the upscale takes about as long as encoding its result, or less.
    A file's ``done`` then follows the next file's ``start``. Inline, writes happen at once.
    """

    def __init__(self, reporter: Reporter, tally: Tally, *, in_background: bool) -> None:
        self.reporter, self.tally = reporter, tally
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="uprez-write") if in_background else None
        self._pending: tuple[str, Path, float, Future] | None = None

    def add(self, source: Path, target: Path, picture: Picture, started: float, *, overwrite: bool) -> None:
        """Writes ``picture`` to ``target`` (now, or after the previous file has been written)."""
        self.settle()
        if self._pool is None:
            future: Future = Future()
            try:
                future.set_result(write_image(target, picture, overwrite=overwrite))
            except Exception as error:  # reported by settle, as from the background
                future.set_exception(error)
        else:
            future = self._pool.submit(write_image, target, picture, overwrite=overwrite)
        self._pending = (str(source), target, started, future)
        if self._pool is None:
            self.settle()

    def settle(self) -> None:
        """Waits for the pending write, if any, and reports it."""
        if self._pending is None:
            return
        source, target, started, future = self._pending
        self._pending = None
        try:
            future.result()
        except UprezError as error:
            self.tally.failed += 1
            self.reporter.event("error", input=source, message=str(error))
        except Exception as error:
            self.tally.failed += 1
            self.reporter.event("error", input=source, message=internal_error(source, error))
        else:
            self.tally.done += 1
            seconds = round(time.monotonic() - started, 3)
            self.reporter.event("done", input=source, output=str(target), seconds=seconds)

    def close(self) -> None:
        """Finishes and reports what is pending (a finished picture is never dropped)."""
        self.settle()
        if self._pool is not None:
            self._pool.shutdown()
