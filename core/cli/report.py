"""Telling people (stderr) and programs (JSON lines on stdout) how a batch is going."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import IO, Any

BAR_WIDTH = 24
REDRAW_SECONDS = 0.1  # a terminal redraw at most this often


def internal_error(source: object, error: BaseException) -> str:
    """One line for an unexpected failure on ``source``: a bug must not cost the rest of a batch."""
    detail = " ".join(str(error).split())[:300]
    return f"{source}: internal error: {type(error).__name__}: {detail}"


class Reporter:
    """Receives the batch's events; the CLI picks one of the two subclasses."""

    def event(self, kind: str, **fields: Any) -> None:
        raise NotImplementedError

    def message(self, text: str) -> None:
        raise NotImplementedError


class JsonReporter(Reporter):
    """One JSON object per line: ``start``, ``progress``, ``done``, ``error``, ``summary``."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        self.stream = stream or sys.stdout

    def event(self, kind: str, **fields: Any) -> None:
        self.stream.write(json.dumps({"event": kind, **fields}) + "\n")
        self.stream.flush()

    def message(self, text: str) -> None:
        self.event("message", text=text)


class HumanReporter(Reporter):
    """A progress bar on a terminal; a line per file otherwise; nothing but errors if quiet."""

    def __init__(self, stream: IO[str] | None = None, *, quiet: bool = False) -> None:
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self.live = self.stream.isatty()
        self._last_draw = 0.0
        self._label = ""

    def message(self, text: str) -> None:
        if not self.quiet:
            self._line(text)

    def event(self, kind: str, **fields: Any) -> None:
        if kind == "error":
            self._line(f"error: {fields['message']}")
        elif self.quiet:
            return
        elif kind == "start":
            self._label = f"[{fields['index']}/{fields['count']}] {fields['input']}"
            plan = f"{fields['tiles']} tile{'s' if fields['tiles'] != 1 else ''} of {fields['tile']} px"
            self._line(f"{self._label} -> {fields['output']} ({fields['out_width']}x{fields['out_height']}, {plan})")
        elif kind == "progress":
            self._draw(fields["done"], fields["total"], "tiles " + fields.get("stage", ""))
        elif kind == "download":
            total = fields["total"] or 0
            self._draw(fields["done"] >> 20, total >> 20, "MB downloaded")
        elif kind == "done":
            self._line(f"{self._label} done in {fields['seconds']:.1f} s")
        elif kind == "summary":
            failed = f", {fields['failed']} failed" if fields["failed"] else ""
            self._line(f"{fields['done']} written{failed} in {fields['seconds']:.1f} s")

    def _draw(self, done: int, total: int, stage: str) -> None:
        now = time.monotonic()
        if not self.live or (now - self._last_draw < REDRAW_SECONDS and done < total):
            return
        self._last_draw = now
        filled = BAR_WIDTH * done // max(total, 1)
        bar = "#" * filled + "-" * (BAR_WIDTH - filled)
        self.stream.write(f"\r  {bar} {done}/{total} {stage}\033[K")
        self.stream.flush()

    def _line(self, text: str) -> None:
        prefix = "\r\033[K" if self.live else ""
        self.stream.write(f"{prefix}{text}\n")
        self.stream.flush()


def download_reporter(reporter: Reporter) -> Callable[[int, int | None], None]:
    """A download progress callback that speaks through ``reporter`` (at most every MiB)."""
    last = [-1]

    def report(done: int, total: int | None) -> None:
        if done >> 20 != last[0] or done == total:
            last[0] = done >> 20
            reporter.event("download", done=done, total=total)

    return report
