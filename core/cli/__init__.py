"""The ``uprez`` command. Each module here that defines ``COMMAND`` is one subcommand."""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Sequence

from ... import __version__
from .._discover import discover
from ..engine.heap import keep_freed_memory
from ._command import Command, ExitStatus

__all__ = ["Command", "ExitStatus", "main", "run"]


def _commands() -> list[Command]:
    return discover(__name__, __path__, "COMMAND", Command)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="uprez",
        description="Upscale images with the classic open-source super-resolution models.",
        epilog="exit codes: 0 ok, 1 some files failed, 2 usage, 3 model, 4 device, 130 interrupted",
    )
    parser.add_argument("--version", action="version", version=f"uprez {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in _commands():
        sub = subparsers.add_parser(command.name, help=command.help, description=command.help)
        command.add_arguments(sub)
        sub.set_defaults(handler=command.run)
    return parser


def main(argv: Sequence[str] | None = None) -> ExitStatus:
    """Parses ``argv`` and runs one subcommand; returns its exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return ExitStatus.OK if exit_.code == 0 else ExitStatus.USAGE
    if getattr(args, "handler", None) is None:
        parser.print_help(sys.stderr)
        return ExitStatus.USAGE
    return args.handler(args)


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # unwinds through the atomic writers, which remove their temp files


def run() -> None:
    """Console-script entry point."""
    signal.signal(signal.SIGTERM, _terminate)
    keep_freed_memory()  # the process is ours: tile maps reuse the heap (x4plus bf16 1.2x)
    sys.exit(int(main()))
