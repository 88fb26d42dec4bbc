# -*- coding: utf-8 -*-
"""Runs the uprez engine (``python -m uprez``) in the user's torch environment.

GIMP's own Python cannot import torch, so the plug-in starts the engine as a subprocess,
found through ``uprez.json`` beside this file (written by ``install.py gimp``), and follows
its JSON-lines progress. Standard library only; Python 2.7 and 3.
"""

from __future__ import absolute_import, division, print_function

import json
import os
import shutil
import subprocess
import sys
import tempfile

CONFIG_NAME = "uprez.json"
INSTALL_HINT = "run `python install.py gimp` in the uprez folder"
# Environment variables of GIMP's bundled Python that would break the engine's interpreter.
FOREIGN_PYTHON_VARIABLES = ("PYTHONHOME", "PYTHONPATH", "PYTHONSTARTUP", "PYTHONEXECUTABLE")
CREATE_NO_WINDOW = 0x08000000  # Windows: no console window flashing up for the engine
STDERR_TAIL = 600


class EngineError(Exception):
    """The engine could not be started or reported a failure; the message is one line."""


def config_path():
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), CONFIG_NAME)


def load_config(path=None):
    """The plug-in's config: ``{"python": ..., "models": [...]}``; EngineError if unusable."""
    path = path or config_path()
    try:
        with open(path) as handle:
            config = json.load(handle)
    except IOError:
        raise EngineError("uprez is not set up for GIMP: %s is missing (%s)" % (path, INSTALL_HINT))
    except ValueError as error:
        raise EngineError("uprez's GIMP config %s is broken (%s); %s" % (path, error, INSTALL_HINT))
    python = config.get("python") if isinstance(config, dict) else None
    # With a "command" prefix (flatpak-spawn --host) the Python lives outside GIMP's sandbox.
    if not python or (not config.get("command") and not os.path.isfile(python)):
        raise EngineError("the Python named in %s (%s) does not exist; %s" % (path, python, INSTALL_HINT))
    return config


def command(config, source, target, options):
    """The engine's command line for one file; ``options`` holds validated filter options."""
    argv = list(config.get("command", [])) + [config["python"], "-m", "uprez", "upscale", source, "-o", target,
            "--json", "--watch-stdin", "--overwrite",
            "-m", options["model"], "-s", repr(float(options["scale"])),
            "--tile", str(options["tile"]) if options["tile"] else "auto",
            "--device", options["device"], "--precision", options["precision"]]
    return argv


def run(argv, on_event=None, should_cancel=None, cwd=None):
    """Runs the engine; calls ``on_event(dict)`` per JSON line; returns the ``done`` event.

    ``cwd`` defaults to the temporary folder: ``-m uprez`` must not find this plug-in's own
    uprez.py, which it would in the plug-in's folder.

    Raises EngineError with the engine's own one-line message when it fails, or ``cancelled``
    when ``should_cancel()`` turned true (the engine is then stopped).
    """
    environment = dict((k, v) for k, v in os.environ.items() if k not in FOREIGN_PYTHON_VARIABLES)
    flags = CREATE_NO_WINDOW if sys.platform == "win32" else 0
    errors = []
    done = None
    with tempfile.TemporaryFile(mode="w+") as stderr:
        try:
            process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr,
                                       env=environment, universal_newlines=True, creationflags=flags,
                                       cwd=cwd or tempfile.gettempdir())
        except OSError as error:
            raise EngineError("cannot start the uprez engine %s: %s; %s" % (argv[0], error, INSTALL_HINT))
        cancelled = False
        try:
            for line in iter(process.stdout.readline, ""):
                event = _parse(line)
                if event is None:
                    continue
                if event.get("event") == "error":
                    errors.append(event.get("message", "unknown error"))
                elif event.get("event") == "done":
                    done = event
                if on_event is not None:
                    on_event(event)
                if should_cancel is not None and should_cancel():
                    cancelled = True
                    process.terminate()
                    break
        finally:
            _close(process)
        if cancelled:
            raise EngineError("cancelled")
        if process.returncode != 0 or done is None:
            raise EngineError(_failure(errors, stderr, process.returncode))
    return done


def _parse(line):
    line = line.strip()
    if not line.startswith("{"):
        return None
    try:
        return json.loads(line)
    except ValueError:
        return None


def _close(process):
    try:
        process.stdin.close()  # the engine watches stdin: closing it also stops a running engine
    except (IOError, OSError):
        pass
    process.stdout.close()
    process.wait()


def _failure(errors, stderr, returncode):
    if errors:
        return errors[-1]
    stderr.seek(0)
    tail = " ".join(stderr.read()[-STDERR_TAIL:].split())
    return "the uprez engine failed (exit %s): %s" % (returncode, tail or "no message")


WORKSPACE_PREFIX = "uprez-gimp-"
OWNER_FILE = "owner.pid"


class Workspace(object):
    """A private temporary folder for one call, always removed (``with Workspace() as w``).

    If GIMP kills the plug-in (a cancelled progress bar does that) the folder outlives it; the
    next call removes folders whose owner process is gone.
    """

    def __enter__(self):
        remove_abandoned_workspaces()
        self.folder = tempfile.mkdtemp(prefix=WORKSPACE_PREFIX)
        with open(os.path.join(self.folder, OWNER_FILE), "w") as handle:
            handle.write(str(os.getpid()))
        return self

    def path(self, name):
        return os.path.join(self.folder, name)

    def __exit__(self, *exc_info):
        shutil.rmtree(self.folder, ignore_errors=True)
        return False


def remove_abandoned_workspaces(root=None):
    """Removes workspaces left by plug-in processes that no longer exist (POSIX only)."""
    root = root or tempfile.gettempdir()
    if not hasattr(os, "kill") or sys.platform == "win32":
        return
    for name in os.listdir(root):
        folder = os.path.join(root, name)
        if name.startswith(WORKSPACE_PREFIX) and not _owner_alive(folder):
            shutil.rmtree(folder, ignore_errors=True)


def _owner_alive(folder):
    try:
        with open(os.path.join(folder, OWNER_FILE)) as handle:
            pid = int(handle.read().strip())
    except (IOError, OSError, ValueError):
        return True  # not ours to judge (or still being created)
    try:
        os.kill(pid, 0)
    except OSError as error:
        return error.errno == 1  # EPERM: alive, someone else's
    return True
