"""``python -m uprez``: the command line."""

from .core.cli import run

run()
