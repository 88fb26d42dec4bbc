"""What a subcommand file provides, and the exit statuses every command returns."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum


class ExitStatus(IntEnum):
    """Process exit codes, documented in README."""

    OK = 0
    FILES_FAILED = 1  # some inputs failed; every other output was written
    USAGE = 2  # bad arguments or options
    MODEL = 3  # the model could not be found, fetched or loaded
    DEVICE = 4  # the requested device or precision is not available
    INTERRUPTED = 130  # Ctrl-C, SIGTERM or a cancel


@dataclass(frozen=True)
class Command:
    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], ExitStatus]
